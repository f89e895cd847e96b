"""Every exception siotls raises (see :mod:`siotls.core.errors` for the details)."""

from siotls.core.errors import *  # noqa: F403
from siotls.core.errors import ALERT_ERRORS  # noqa: F401
