from django import forms

from accounts.models import ApiTokenScope, Membership


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
    """The access of a new API token; left out, it is full access (as in the token API)."""

    scope = forms.ChoiceField(
        choices=ApiTokenScope.Scope.choices, initial=ApiTokenScope.Scope.FULL, widget=forms.RadioSelect, required=False
    )

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"] or ApiTokenScope.Scope.FULL
