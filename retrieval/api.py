"""REST API for search: ``POST /api/v1/search/``."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.permissions import workspace_get_for_request
from retrieval.query import InvalidQuery, check_query_length
from retrieval.selectors import MODES, RetrieverHit, SearchHit, check_document_ids, search_chunks


def _retriever(hit: RetrieverHit | None) -> dict[str, float | int] | None:
    return None if hit is None else {"rank": hit.rank, "score": hit.score}


class SearchApi(APIView):
    class SearchInput(serializers.Serializer):
        query = serializers.CharField(trim_whitespace=True)
        workspace = serializers.IntegerField(required=False, help_text="Defaults to your personal workspace.")
        k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=settings.SEARCH_MAX_K)
        mode = serializers.ChoiceField(choices=MODES, required=False, default="hybrid")
        document_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), required=False, min_length=1, max_length=1000
        )

        def validate_query(self, value: str) -> str:
            try:
                check_query_length(value)
            except InvalidQuery as exc:
                raise serializers.ValidationError(exc.message) from exc
            return value

    class RetrieverOutput(serializers.Serializer):
        rank = serializers.IntegerField()
        score = serializers.FloatField()

    class HitOutput(serializers.Serializer):
        chunk_id = serializers.IntegerField(source="chunk.id")
        document_id = serializers.IntegerField(source="chunk.document_id")
        document_title = serializers.CharField(source="chunk.document.title")
        page_start = serializers.IntegerField(source="chunk.page_start", allow_null=True)
        page_end = serializers.IntegerField(source="chunk.page_end", allow_null=True)
        page_label = serializers.CharField(source="chunk.page_label", help_text='"page 3", "slides 2–3", or "".')
        heading_path = serializers.ListField(child=serializers.CharField(), source="chunk.heading_path")
        text = serializers.CharField(source="chunk.text")
        score = serializers.FloatField()
        bm25 = serializers.SerializerMethodField()
        vector = serializers.SerializerMethodField()

        def get_bm25(self, hit: SearchHit) -> dict[str, float | int] | None:
            return _retriever(hit.bm25)

        def get_vector(self, hit: SearchHit) -> dict[str, float | int] | None:
            return _retriever(hit.vector)

    class SearchOutput(serializers.Serializer):
        results = serializers.ListField(child=serializers.DictField())  # HitOutput items

    @extend_schema(
        request=SearchInput,
        responses={200: SearchOutput},
        summary="Search a workspace's chunks (bm25, vector or hybrid)",
        description='Returns `{"results": [hit, ...]}`, best first. `bm25`/`vector` give each retriever\'s rank '
        "and score for the hit, or null when that retriever did not return it.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = self.SearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        workspace = workspace_get_for_request(user=request.user, workspace_id=params.get("workspace"))
        document_ids = check_document_ids(workspace=workspace, document_ids=params.get("document_ids"))
        hits = search_chunks(
            workspace=workspace, query=params["query"], k=params["k"], mode=params["mode"], document_ids=document_ids
        )
        return Response(self.SearchOutput({"results": self.HitOutput(hits, many=True).data}).data)
