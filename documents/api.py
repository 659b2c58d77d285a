"""REST API for documents: upload, list, detail, delete, reprocess, new versions, retry, chunks, file."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
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
    document_get_for_user,
    document_list,
    document_version_get,
    document_versions,
)
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


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    title = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    failed_stage = serializers.CharField()
    progress = serializers.SerializerMethodField()
    page_count = serializers.IntegerField(allow_null=True)
    chunk_count = serializers.IntegerField()
    current_version = serializers.IntegerField(source="current_version.number", allow_null=True, default=None)
    pending_version = serializers.IntegerField(source="pending_version.number", allow_null=True, default=None)
    uploaded_by = serializers.EmailField(source="uploaded_by.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)

    def get_progress(self, document: Document) -> dict[str, int]:
        return {"done": document.progress_done, "total": document.progress_total, "percent": document.progress_percent}


def _file_from(request: AuthenticatedRequest) -> tuple[UploadedFile, str]:
    """The uploaded file part "file" and its name. Raises RequestTooLarge when the request is over
    ``UPLOAD_REQUEST_MAX_BYTES`` or ``UPLOAD_REQUEST_MAX_FILES``, FileTooLarge when the upload handler stopped
    reading the file (``documents.uploads``: reading ``request.FILES`` parses the body, if the CSRF check has
    not already), ValidationError when there is none."""
    upload: UploadedFile | None = request.FILES.get("file")
    upload_request_check(request._request)
    if getattr(request._request, TOO_LARGE_FLAG, False):
        raise FileTooLarge(file_too_large_message())
    if upload is None:
        raise serializers.ValidationError({"file": ["Send the file as multipart form field “file”."]})
    return upload, upload.name or "untitled"


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
        parameters=[OpenApiParameter("workspace", int), OpenApiParameter("status", str)],
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


class DocumentDetailApi(APIView):
    class DocumentDetailOutput(DocumentOutput):
        versions = VersionOutput(many=True)

    @extend_schema(responses=DocumentDetailOutput)
    def get(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        versions = VersionOutput(document_versions(document=document), many=True).data
        return Response(DocumentOutput(document).data | {"versions": versions})

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, document_id: int) -> Response:
        document = document_get_for_user(user=request.user, document_id=document_id)
        membership = membership_get(user=request.user, workspace_id=document.workspace_id)
        document_delete(document=document, actor=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReprocessApi(APIView):
    @extend_schema(request=None, responses={202: DocumentOutput})
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
