"""One chat-completions request of mine_html_pages: the project's retry policy on 429/5xx/timeouts, token usage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tenacity import retry_if_exception

from vlm_ocr.prep.batch_io import png_data_uri
from vlm_ocr.prep.fetch import RETRYABLE_STATUS, RetryPolicy, retrying

logger = logging.getLogger(__name__)


class ChatFailed(RuntimeError):
    """A request that failed for good on this page (retries spent, a refusal); the page fails, the run goes on."""


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str
    step: str
    prompt_tokens: int
    completion_tokens: int

    def record(self) -> dict[str, str | int]:
        """The request as the page record lists it."""
        return {"step": self.step, "finish_reason": self.finish_reason, "tokens_in": self.prompt_tokens,
                "tokens_out": self.completion_tokens}  # fmt: skip


def image_part(png: bytes) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": png_data_uri(png)}}


def text_part(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}


def ask(
    client: Any,
    model: str,
    content: list[dict[str, Any]],
    *,
    step: str,
    max_tokens: int,
    temperature: float,
    policy: RetryPolicy,
    extra_body: dict[str, Any] | None = None,
) -> Reply:
    """One user turn of `content` parts; retried on 429, 5xx and timeouts, not on a refused key or connection."""
    import openai

    def retryable(err: BaseException) -> bool:
        status = isinstance(err, openai.APIStatusError) and err.status_code in RETRYABLE_STATUS
        return status or isinstance(err, openai.APITimeoutError)

    request: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_completion_tokens": max_tokens,
        "temperature": temperature,
    }
    if extra_body:
        request["extra_body"] = extra_body
    attempts = retrying(policy, retry_if_exception(retryable), f"{step} request", ChatFailed)
    response = attempts(client.chat.completions.create, **request)
    choice = response.choices[0]
    if getattr(choice.message, "refusal", None):
        raise ChatFailed(f"{step} request refused: {choice.message.refusal}")
    usage = response.usage
    return Reply(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason or "",
        step=step,
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
    )
