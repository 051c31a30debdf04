"""Bad input from the user: `UsageError`, `InputError(what, fix)`, and the library errors that mean the same thing."""

from __future__ import annotations

import sys


class UsageError(Exception):
    """A wrong path, option or input file; the message names it and says how to fix it."""


class InputError(UsageError):
    """The project's UsageError, built from what is wrong and how to fix it: printed as one line `<what> — <fix>`."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what} — {fix}")
        self.what, self.fix = what, fix


def as_input_error(err: BaseException) -> UsageError | None:
    """The UsageError an error stands for (itself, a refused connection, a missing bucket...), else None.

    Only libraries already imported are consulted: an error cannot come from a library nobody loaded.
    """
    if isinstance(err, UsageError):
        return err
    return service_error(err) or _path_error(err)


def service_error(err: BaseException) -> UsageError | None:
    """The UsageError of an error that no item of a run can escape (a server that cannot be reached, credentials it
    refuses), else None; a data tool stops at the first one instead of failing every item alike."""
    openai = sys.modules.get("openai")
    if openai is not None and isinstance(err, openai.APIConnectionError):
        request = getattr(err, "request", None)
        where = f"{request.url.scheme}://{request.url.netloc.decode()}" if request is not None else "its base URL"
        fix = "check OPENAI_BASE_URL (a tool's --base-url) and that the server is up"
        return InputError(f"cannot reach the OpenAI API at {where}", fix)
    if openai is not None and isinstance(err, openai.AuthenticationError):
        return InputError("the OpenAI server refused OPENAI_API_KEY", "set OPENAI_API_KEY to a valid key")
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(err, botocore.NoCredentialsError):
        return InputError("no AWS credentials for s3://", "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile")
    if botocore is not None and isinstance(err, botocore.EndpointConnectionError):
        return InputError(f"cannot reach S3 at {err.kwargs.get('endpoint_url')}", "check AWS_ENDPOINT_URL")
    return None


def _path_error(err: BaseException) -> UsageError | None:
    """The UsageError of a library error about one path or id (a missing bucket or key, an unknown dataset)."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(err, botocore.ClientError):
        error = err.response.get("Error", {})
        code, name = error.get("Code", ""), error.get("BucketName") or error.get("Key") or err.operation_name
        if code in ("NoSuchBucket", "NoSuchKey", "404", "AccessDenied", "403"):
            return InputError(f"s3: {code}: {name}", "check the s3:// path and its permissions")
    hub = sys.modules.get("huggingface_hub.errors")
    if hub is not None and isinstance(err, (hub.RepositoryNotFoundError, hub.HFValidationError)):
        return InputError(f"not a dataset on the Hugging Face hub: {err}".splitlines()[0], _HUB_FIX)
    if hub is not None and isinstance(err, hub.LocalEntryNotFoundError):
        return InputError(
            "cannot download from the Hugging Face hub (offline, or HF_HUB_OFFLINE=1)",
            "go online (HF_ENDPOINT for a mirror) or pass a local copy of the dataset folder",
        )
    return None


_HUB_FIX = "pass a hub id such as allenai/olmOCR-mix-1025 (HF_TOKEN for a private one) or an existing local folder"
