from django.contrib import admin
from django.http import HttpRequest

from retrieval.models import GoldenQuery, WorkspaceStats


@admin.register(GoldenQuery)
class GoldenQueryAdmin(admin.ModelAdmin):
    """A workspace's golden set: evaluate it with ``manage.py evaluate_retrieval --workspace ID``."""

    list_display = ["question", "workspace", "expected_document", "has_passage", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["question", "expected_passage", "workspace__name", "expected_document__title"]
    autocomplete_fields = ["workspace", "expected_document"]

    @admin.display(boolean=True, description="passage")
    def has_passage(self, case: GoldenQuery) -> bool:
        return bool(case.expected_passage)


@admin.register(WorkspaceStats)
class WorkspaceStatsAdmin(admin.ModelAdmin):
    """BM25 statistics, maintained by database triggers: read-only."""

    list_display = ["workspace", "chunk_count", "total_length", "average_length", "generation"]
    search_fields = ["workspace__name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WorkspaceStats | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WorkspaceStats | None = None) -> bool:
        return False
