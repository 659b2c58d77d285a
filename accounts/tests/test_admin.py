import pytest
from django.core.management import call_command

from accounts.models import User, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = User.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "url, needle",
    [
        ("/admin/accounts/user/?q=alice", "alice@example.com"),
        ("/admin/accounts/user/?is_staff__exact=0", "bob@example.com"),
        ("/admin/accounts/workspace/?q=acme", "Acme"),
        ("/admin/accounts/workspace/?personal=yes", "Alice&#x27;s workspace"),
        ("/admin/accounts/membership/?role__exact=member", "bob@example.com"),
        ("/admin/accounts/membership/?q=acme", "alice@example.com"),
    ],
)
def test_admin_lists_search_and_filter(staff_client, workspace, url, needle):
    response = staff_client.get(url)
    assert response.status_code == 200
    assert needle in response.content.decode()


def test_admin_filters_exclude(staff_client, workspace):
    page = staff_client.get("/admin/accounts/workspace/?personal=no").content.decode()
    assert "Acme" in page and "Alice&#x27;s workspace" not in page


def test_admin_is_staff_only(client, alice):
    client.force_login(alice)
    assert client.get("/admin/accounts/workspace/").status_code == 302


def test_demo_account_command_is_repeatable(capsys):
    call_command("ensure_demo_account")
    call_command("ensure_demo_account")
    user = User.objects.get(email="demo@groundwork.local")
    assert user.check_password("groundwork-demo")
    assert Workspace.objects.filter(personal_for=user).count() == 1
    assert "demo@groundwork.local" in capsys.readouterr().out
