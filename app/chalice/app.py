"""AWS Lambda entry point of the fraudit API. All logic lives in fraudit.api."""

from fraudit.api.app import create_app
from fraudit.logs import configure_json_logging
from fraudit.settings import get_settings

configure_json_logging(get_settings().log_level)
app = create_app()
