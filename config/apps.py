"""The admin's app config: Django's, with the audited admin site (``accounts.admin_site.AuditedAdminSite``) as the
default ``admin.site``, so every registered ``ModelAdmin`` writes the audit trail (Django's documented way to
replace the default site: ``AdminConfig.default_site``)."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "accounts.admin_site.AuditedAdminSite"
