"""swe_dagger.envs"""
