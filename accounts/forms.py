from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import ApiTokenScope, AuditEvent, Membership, User, Workspace
from accounts.selectors import workspace_list_for_user


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, strip=True)


class ApiTokenForm(forms.Form):
    """The access of a new API token; left out, it is full access to all the user's workspaces (as in the token
    API). ``workspace`` offers only the workspaces ``user`` is a member of."""

    scope = forms.ChoiceField(
        choices=ApiTokenScope.Scope.choices, initial=ApiTokenScope.Scope.FULL, widget=forms.RadioSelect, required=False
    )
    workspace = forms.ModelChoiceField(
        queryset=Workspace.objects.none(), required=False, empty_label="All my workspaces", label="Workspaces"
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["workspace"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = workspace_list_for_user(user=user)

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"] or ApiTokenScope.Scope.FULL


class AuditFilterForm(forms.Form):
    """The Audit page's filters (query parameters); every field optional."""

    event = forms.ChoiceField(choices=[("", "All events"), *AuditEvent.Event.choices], required=False)
    actor = forms.CharField(required=False, max_length=254, strip=True, label="Actor email contains")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
