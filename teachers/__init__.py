"""swe_dagger.teachers"""
