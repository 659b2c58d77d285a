"""Writes of the accounts app, one module per sub-domain (as Zulip's ``zerver/actions``): ``users`` (login and the
demo account), ``workspaces``, ``memberships``, ``invitations`` and ``api_tokens``. Import from the module."""
