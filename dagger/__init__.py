"""swe_dagger.dagger"""
