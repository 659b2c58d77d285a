from django import forms

from accounts.models import Membership


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, strip=True)
