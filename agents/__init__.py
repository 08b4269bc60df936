"""swe_dagger.agents"""
