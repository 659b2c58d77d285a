import pytest
from django.core.exceptions import ValidationError

from accounts.models import Workspace

pytestmark = pytest.mark.django_db


def test_text_search_config_must_exist_in_postgres():
    Workspace(name="German", text_search_config="german").full_clean()
    with pytest.raises(ValidationError, match="not a PostgreSQL text search configuration"):
        Workspace(name="Bad", text_search_config="klingon'; --").full_clean()
