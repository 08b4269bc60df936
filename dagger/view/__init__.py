"""The trajectory viewer: ``write_site(source, out)`` turns episodes into a static, self-contained HTML site."""

from swe_dagger.dagger.view.site import write_site

__all__ = ["write_site"]
