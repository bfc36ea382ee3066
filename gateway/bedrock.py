"""AWS Bedrock ConverseStream over the shared httpx client, signed with botocore's SigV4."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast
from urllib.parse import quote

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError

from gateway.converse import ConverseStreamReader, request_body
from gateway.errors import UPSTREAM, ProviderError, error_for_status
from gateway.events import ProviderEvent
from gateway.openai_compat import transport_error
from gateway.request import ChatRequest
from gateway.retry import parse_retry_after

SERVICE = "bedrock"


def model_path(model_id: str) -> str:
    # The id goes in the path percent-encoded (`:` as `%3A`), exactly as it is then signed.
    return f"/model/{quote(model_id, safe='')}/converse-stream"


class BedrockProvider:
    def __init__(
        self,
        http: httpx.AsyncClient,
        region: str,
        endpoint: str | None,
        credentials: Credentials,
        timeout: httpx.Timeout,
    ) -> None:
        self.name = "bedrock"
        self._http = http
        self._endpoint = (endpoint or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        self._signer = SigV4Auth(credentials, SERVICE, region)
        self._timeout = timeout

    def signed_headers(self, url: str, body: bytes) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/vnd.amazon.eventstream",
            },
        )
        self._signer.add_auth(request)
        return dict(request.headers.items())

    async def stream(self, model: str, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        url = self._endpoint + model_path(model)
        body = json.dumps(request_body(request)).encode()
        headers = self.signed_headers(url, body)
        try:
            async with self._http.stream(
                "POST", url, content=body, headers=headers, timeout=self._timeout
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    detail = response.headers.get("x-amzn-errortype", "").split(":")[0]
                    raise error_for_status(
                        response.status_code, detail[:60], parse_retry_after(response.headers)
                    )
                frames = EventStreamBuffer()
                reader = ConverseStreamReader()
                async for chunk in response.aiter_bytes():
                    frames.add_data(chunk)
                    for message in frames:
                        # botocore's stubs type `headers` as int; it is a dict.
                        frame_headers = cast("Mapping[str, Any]", message.headers)
                        for event in reader.feed(frame_headers, message.payload):
                            yield event
                for event in reader.finish():
                    yield event
        except httpx.TransportError as exc:
            raise transport_error(exc) from None
        except (ParserError, ValueError) as exc:
            raise ProviderError(UPSTREAM, f"malformed event stream: {type(exc).__name__}") from None
