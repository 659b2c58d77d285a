from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from chat.models import Citation, Conversation, Feedback, Message, QuotaOverride, UsageDay

MESSAGE_INLINE_FIELDS = ("role", "content", "provider", "fallback_used", "not_covered", "latency_ms", "created_at")
CITATION_INLINE_FIELDS = ("marker", "document_title", "page_start", "page_end", "support")


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = MESSAGE_INLINE_FIELDS
    readonly_fields = MESSAGE_INLINE_FIELDS


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "workspace", "user", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["title", "user__email", "workspace__name"]
    raw_id_fields = ["workspace", "user", "documents"]
    inlines = [MessageInline]


class CitationInline(admin.TabularInline):
    model = Citation
    extra = 0
    can_delete = False
    fields = CITATION_INLINE_FIELDS
    readonly_fields = CITATION_INLINE_FIELDS


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "role", "provider", "model", "fallback_used", "not_covered", "latency_ms", "created_at"]
    list_filter = ["role", "provider", "fallback_used", "not_covered"]
    search_fields = ["content", "conversation__user__email"]
    raw_id_fields = ["conversation"]
    inlines = [CitationInline]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """Thumbs-down answers become golden cases for the retrieval evaluation: "→ golden case" opens the golden
    query form prefilled with the question and workspace; pick the document that should have been found."""

    list_display = ["message", "rating", "comment", "user", "created_at", "golden_case"]
    list_filter = ["rating"]
    search_fields = ["comment", "message__content", "user__email"]
    raw_id_fields = ["message", "user"]

    @admin.display(description="golden set")
    def golden_case(self, feedback: Feedback) -> str:
        if feedback.rating > 0:
            return ""
        question = (
            feedback.message.conversation.messages.filter(role=Message.Role.USER, id__lt=feedback.message_id)
            .order_by("-id")
            .first()
        )
        params = urlencode(
            {
                "workspace": feedback.message.conversation.workspace_id,
                "question": question.content if question else "",
                "note": f"from feedback {feedback.pk}: {feedback.comment}"[:300],
            }
        )
        return format_html('<a href="{}?{}">→ golden case</a>', reverse("admin:retrieval_goldenquery_add"), params)


@admin.register(UsageDay)
class UsageDayAdmin(admin.ModelAdmin):
    list_display = ["day", "workspace", "user", "questions", "tokens"]
    list_filter = ["day"]
    search_fields = ["user__email", "workspace__name"]


@admin.register(QuotaOverride)
class QuotaOverrideAdmin(admin.ModelAdmin):
    list_display = ["__str__", "questions_per_day", "tokens_per_day"]
    raw_id_fields = ["workspace", "user"]
