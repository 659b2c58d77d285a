"""REST API for documents: upload, list, detail, delete, reprocess, new versions, retry, chunks, file."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.permissions import membership_get, workspace_get_for_request
from config.openapi import paginated
from documents.models import Document
from documents.selectors import (
    chunk_list,
    document_attachment_notes,
    document_attachments,
    document_get_for_user,
    document_list,
    document_version_get,
    document_versions,
    version_ocr_summary,
)
from documents.services.batch import documents_upload_batch
from documents.services.lifecycle import (
    document_delete,
    document_reprocess,
    document_retry_failed,
    document_version_open,
    require_document_editor,
)
from documents.services.upload import (
    FileTooLarge,
    document_upload,
    document_version_upload,
    file_too_large_message,
    upload_rate_check,
)
from documents.uploads import TOO_LARGE_FLAG, upload_request_check


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    original_filename = serializers.CharField()
    kind = serializers.CharField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    page_count = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class ProgressOutput(serializers.Serializer):
    """Pages read by OCR while ``extracting``, chunks embedded while ``embedding``; ``text`` says which."""

    done = serializers.IntegerField(source="progress_done")
    total = serializers.IntegerField(source="progress_total")
    percent = serializers.IntegerField(source="progress_percent")
    text = serializers.CharField(source="progress_label", help_text='"OCR 12 of 40 pages", "Embedded 30 of 80 chunks"')


class OcrPageOutput(serializers.Serializer):
    page = serializers.IntegerField()
    confidence = serializers.FloatField(allow_null=True, help_text="Mean word confidence, 0-100.")
    words = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True, help_text="Why OCR could not read this page.")
    low_confidence = serializers.BooleanField()


class OcrOutput(serializers.Serializer):
    """What OCR read in a document version (``documents.selectors.OcrSummary``)."""

    pages_total = serializers.IntegerField()
    pages_read = serializers.IntegerField()
    mean_confidence = serializers.FloatField(allow_null=True)
    low_confidence_below = serializers.IntegerField()
    low_confidence_pages = serializers.ListField(child=serializers.IntegerField())
    failed_pages = serializers.ListField(child=serializers.IntegerField())
    unread_pages = serializers.ListField(
        child=serializers.IntegerField(), help_text="Pages that needed OCR while it was off on the server."
    )
    unread_reason = serializers.CharField(allow_blank=True)
    pages = OcrPageOutput(many=True)


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    title = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    failed_stage = serializers.CharField()
    progress = ProgressOutput(source="*")
    page_count = serializers.IntegerField(allow_null=True)
    chunk_count = serializers.IntegerField()
    current_version = serializers.IntegerField(source="current_version.number", allow_null=True, default=None)
    pending_version = serializers.IntegerField(source="pending_version.number", allow_null=True, default=None)
    uploaded_by = serializers.EmailField(source="uploaded_by.email", allow_null=True, default=None)
    attachment_of = serializers.IntegerField(
        source="parent_id", allow_null=True, help_text="The e-mail message this document is an attachment of."
    )
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)


def _files_from(request: AuthenticatedRequest) -> list[UploadedFile]:
    """The uploaded file parts named "file", in order. Raises RequestTooLarge when the request is over
    ``UPLOAD_REQUEST_MAX_BYTES`` or ``UPLOAD_REQUEST_MAX_FILES``, FileTooLarge when the upload handler stopped
    reading a file (``documents.uploads``: reading ``request.FILES`` parses the body, if the CSRF check has
    not already), ValidationError when there is none."""
    uploads: list[UploadedFile] = request.FILES.getlist("file")
    upload_request_check(request._request)
    if getattr(request._request, TOO_LARGE_FLAG, False):
        raise FileTooLarge(file_too_large_message())
    if not uploads:
        raise serializers.ValidationError({"file": ["Send the file as multipart form field “file”."]})
    return uploads


def _file_from(request: AuthenticatedRequest) -> tuple[UploadedFile, str]:
    """The (last) uploaded file part "file" and its name; raises as ``_files_from``."""
    upload = _files_from(request)[-1]
    return upload, upload.name or "untitled"


BATCH_DESCRIPTION = """Upload several files in one request: one multipart part named `file` per file (at most
`UPLOAD_REQUEST_MAX_FILES` files and `UPLOAD_REQUEST_MAX_BYTES` bytes per request, 100 and 100 MB by default; each file
at most `MAX_UPLOAD_BYTES`). Each file is checked, deduplicated and queued on its own: the answer lists one result per
file, in order, `created`, `duplicate` (the same bytes are already `document`) or `refused` (`error` in the API's error
shape), and a refused file does not fail the others.

For thousands of files, send batches of up to `UPLOAD_REQUEST_MAX_FILES` files, one after the other, and poll
`GET /api/v1/documents/?status=...` for progress. Each file counts against the uploader's hourly limit
(`UPLOADS_PER_USER_PER_HOUR`, or the user's own limit set by staff in the admin); once it is reached, the remaining
files are refused with code `upload_rate_limited` (a request sent over the limit gets 429 with `Retry-After`). An
operator with shell access imports a folder or ZIP without that limit: `manage.py import_documents`."""


class DocumentListApi(APIView):
    parser_classes = [MultiPartParser]

    class DocumentFilter(serializers.Serializer):
        workspace = serializers.IntegerField(required=False)
        status = serializers.ChoiceField(choices=Document.Status.choices, required=False)

    class DocumentUploadInput(serializers.Serializer):
        file = serializers.FileField()
        workspace = serializers.IntegerField(required=False)
        title = serializers.CharField(required=False, max_length=300)

    class DocumentUploadOutput(DocumentOutput):
        created = serializers.BooleanField()
        message = serializers.CharField()

    @extend_schema(
        parameters=[DocumentFilter],
        responses=paginated("DocumentPage", DocumentOutput(many=True)),
        operation_id="documents_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = self.DocumentFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        workspace = workspace_get_for_request(user=request.user, workspace_id=filters.validated_data.get("workspace"))
        documents = document_list(workspace=workspace, status=filters.validated_data.get("status"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(documents, request, view=self)
        return paginator.get_paginated_response(DocumentOutput(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadInput},
        responses={
            201: DocumentUploadOutput,
            200: OpenApiResponse(DocumentUploadOutput, description="The same bytes are already a document here."),
            409: None,
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        upload_rate_check(user=request.user)  # before the body is parsed: a refused upload costs no temp disk
        upload, filename = _file_from(request)
        form = request.POST  # multipart form fields besides the file
        workspace = workspace_get_for_request(user=request.user, workspace_id=form.get("workspace") or None)
        result = document_upload(
            workspace=workspace, user=request.user, file=upload, filename=filename, title=form.get("title")
        )
        body = DocumentOutput(result.document).data | {"created": result.created, "message": result.message}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class AttachmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()


class AttachmentNoteOutput(serializers.Serializer):
    filename = serializers.CharField()
    reason = serializers.CharField()


class BatchFileErrorOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class BatchFileResultOutput(serializers.Serializer):
    filename = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "refused"])
    document = DocumentOutput(allow_null=True, help_text="The new document, or the one holding the same bytes.")
    error = BatchFileErrorOutput(allow_null=True, help_text="Why the file was refused, in the API's error shape.")


class DocumentBatchUploadApi(APIView):
    parser_classes = [MultiPartParser]

    class DocumentBatchInput(serializers.Serializer):
        file = serializers.ListField(
            child=serializers.FileField(), min_length=1, help_text="One form part per file, all named “file”."
        )
        workspace = serializers.IntegerField(required=False)

    @extend_schema(
        operation_id="documents_batch_upload",
        description=BATCH_DESCRIPTION,
        request={"multipart/form-data": DocumentBatchInput},
        responses={200: inline_serializer("DocumentBatchOutput", {"results": BatchFileResultOutput(many=True)})},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        upload_rate_check(user=request.user)  # counts the first file, before the body is parsed
        uploads = _files_from(request)
        workspace = workspace_get_for_request(user=request.user, workspace_id=request.POST.get("workspace") or None)
        results = documents_upload_batch(
            workspace=workspace, user=request.user, files=[(upload, upload.name or "untitled") for upload in uploads]
        )
        return Response({"results": BatchFileResultOutput(results, many=True).data})


class DocumentDetailApi(APIView):
    class DocumentDetailOutput(DocumentOutput):
        versions = VersionOutput(many=True)
        ocr = OcrOutput(allow_null=True, help_text="What OCR read in the current version; null: no page needed it.")
        attachments = AttachmentOutput(many=True, help_text="An e-mail message's attachments, documents of their own.")
        attachment_notes = AttachmentNoteOutput(
            many=True, help_text="An e-mail message's attachments that are not documents here, and why."
        )

    @extend_schema(responses=DocumentDetailOutput)
    def get(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        versions = VersionOutput(document_versions(document=document), many=True).data
        ocr = version_ocr_summary(version=document.current_version)
        return Response(
            DocumentOutput(document).data
            | {
                "versions": versions,
                "ocr": OcrOutput(ocr).data if ocr else None,
                "attachments": AttachmentOutput(document_attachments(document=document), many=True).data,
                "attachment_notes": AttachmentNoteOutput(document_attachment_notes(document=document), many=True).data,
            }
        )

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        membership = membership_get(user=request.user, workspace_id=document.workspace_id)
        document_delete(document=document, actor=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReprocessApi(APIView):
    @extend_schema(request=None, responses={202: DocumentOutput, 409: None})
    def post(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        membership = membership_get(user=request.user, workspace_id=document.workspace_id)
        document = document_reprocess(document=document, actor=membership)
        return Response(DocumentOutput(document).data, status=status.HTTP_202_ACCEPTED)


class DocumentVersionCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class DocumentVersionInput(serializers.Serializer):
        file = serializers.FileField()

    @extend_schema(request={"multipart/form-data": DocumentVersionInput}, responses={202: DocumentOutput, 409: None})
    def post(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        require_document_editor(
            document=document, actor=membership_get(user=request.user, workspace_id=document.workspace_id)
        )
        upload_rate_check(user=request.user)
        upload, filename = _file_from(request)
        document_version_upload(document=document, user=request.user, file=upload, filename=filename)
        document.refresh_from_db()
        return Response(DocumentOutput(document).data, status=status.HTTP_202_ACCEPTED)


class DocumentRetryFailedApi(APIView):
    class DocumentRetryInput(serializers.Serializer):
        workspace = serializers.IntegerField(required=False)
        document_ids = serializers.ListField(child=serializers.IntegerField(), required=False)

    class DocumentRetryOutput(serializers.Serializer):
        queued = serializers.IntegerField()

    @extend_schema(request=DocumentRetryInput, responses=DocumentRetryOutput)
    def post(self, request: AuthenticatedRequest) -> Response:
        data = self.DocumentRetryInput(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = workspace_get_for_request(user=request.user, workspace_id=data.validated_data.get("workspace"))
        queued = document_retry_failed(
            workspace_id=workspace.pk,
            actor=membership_get(user=request.user, workspace_id=workspace.pk),
            document_ids=data.validated_data.get("document_ids"),
        )
        return Response({"queued": queued})


class DocumentChunksApi(APIView):
    class ChunkOutput(serializers.Serializer):
        id = serializers.IntegerField()
        ordinal = serializers.IntegerField()
        text = serializers.CharField()
        heading_path = serializers.ListField(child=serializers.CharField())
        page_start = serializers.IntegerField(allow_null=True)
        page_end = serializers.IntegerField(allow_null=True)
        page_label = serializers.CharField(help_text='How the pages are cited: "page 3", "slides 2–3", or "".')
        char_start = serializers.IntegerField()
        char_end = serializers.IntegerField()
        token_count = serializers.IntegerField()

    @extend_schema(responses=paginated("ChunkPage", ChunkOutput(many=True)), operation_id="documents_chunks_list")
    def get(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(chunk_list(document=document), request, view=self)
        return paginator.get_paginated_response(self.ChunkOutput(page, many=True).data)


class DocumentFileApi(APIView):
    """The original file of a version (``?version=N``; default: current), as an attachment."""

    @extend_schema(
        parameters=[OpenApiParameter("version", int)],
        responses={
            (200, "*/*"): OpenApiResponse(bytes, description="The file as uploaded, with its own media type."),
        },
    )
    def get(self, request: AuthenticatedRequest, document_id: int) -> FileResponse:
        document = document_get_for_user(user=request.user, document_id=document_id)
        version = document_version_get(document=document, number=request.query_params.get("version"))
        handle = document_version_open(version=version, user=request.user)
        return FileResponse(handle, as_attachment=True, filename=version.original_filename)
