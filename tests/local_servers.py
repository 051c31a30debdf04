"""Real HTTP servers on 127.0.0.1 (ephemeral ports) for the data-tool tests: an OpenAI stand-in, a file server."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


class _Server:
    def __init__(self, handler_cls):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.daemon_threads = True
        self.httpd.app = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: bytes | dict, content_type: str = "application/json", headers=None):
        data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def page_json(seed: str) -> str:
    return json.dumps(
        {
            "primary_language": "en",
            "is_rotation_valid": True,
            "rotation_correction": 0,
            "is_table": False,
            "is_diagram": False,
            "natural_text": f"Transcribed {seed}",
        }
    )


def chat_completion(content: str | None, refusal: str | None = None, finish: str = "stop") -> dict:
    return {
        "id": "chatcmpl-" + hashlib.md5((content or refusal or "").encode()).hexdigest()[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class OpenAIStub(_Server):
    """Files, Batches and Chat Completions, enough for the `openai` SDK.

    `scenarios[source_file]` picks a batch's fate: "ok" (default), "expire_half" (expires with half the
    results and the rest in the error file), "failed" (validation failure), "errors" (completed, odd lines
    in the error file). `upload_failures` answers the next N uploads with HTTP 400. Each retrieve of a
    batch advances it one status: validating -> in_progress -> finalizing -> final.
    """

    def __init__(self):
        super().__init__(_OpenAIHandler)
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.scenarios: dict[str, str] = {}
        self.upload_failures = 0
        self.echo_key = False  # answer every request 400, quoting the request's API key (as some servers do)
        self.requests: list[tuple[str, str, dict]] = []
        self.chat_calls = 0
        self.chat_requests: list[dict] = []
        self.chat_failures: list[int] = []
        """HTTP statuses to answer the next chat requests with (Retry-After: 0) before answering normally."""
        self.accepted_key: str | None = None
        """When set, a request with another bearer key is refused with HTTP 401."""
        self.synth_pages: dict[tuple[int, int], dict[str, str]] = {}
        """mine_html_pages' conversation, per page-image size: "orientation", "html" and "refined" answers."""
        self.refinements_before_hold: int | None = None
        """When set, the refinement requests after this many are held (not answered) until the server stops."""
        self.holding = threading.Event()
        """Set once a refinement request is being held."""
        self._released = threading.Event()
        self.lock = threading.Lock()
        self._n = 0

    def stop(self):
        self._released.set()
        super().stop()

    def new_id(self, prefix: str) -> str:
        with self.lock:
            self._n += 1
            return f"{prefix}-{self._n:04d}"

    def add_file(self, name: str, data: bytes, purpose: str) -> dict:
        file_id = self.new_id("file")
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
            "_data": data,
        }
        return self.files[file_id]

    def advance(self, batch: dict) -> None:
        order = ["validating", "in_progress", "finalizing"]
        if batch["status"] in order[:-1]:
            batch["status"] = order[order.index(batch["status"]) + 1]
        elif batch["status"] == "finalizing":
            self._finish(batch)

    def _finish(self, batch: dict) -> None:
        scenario = self.scenarios.get((batch["metadata"] or {}).get("source_file", ""), "ok")
        if scenario == "failed":
            batch["status"] = "failed"
            batch["errors"] = {"object": "list", "data": [{"code": "invalid_json", "message": "bad line", "line": 1}]}
            return
        lines = [json.loads(line) for line in self.files[batch["input_file_id"]]["_data"].decode().splitlines() if line]
        out, err = [], []
        for number, request in enumerate(lines):
            cid = request["custom_id"]
            failed = (scenario == "expire_half" and number >= len(lines) // 2) or (scenario == "errors" and number % 2)
            if failed:
                code = "batch_expired" if scenario == "expire_half" else "server_error"
                err.append(
                    {
                        "id": f"req-{number}",
                        "custom_id": cid,
                        "response": None,
                        "error": {"code": code, "message": "not processed"},
                    }
                )
            else:
                body = chat_completion(page_json(cid))
                out.append(
                    {
                        "id": f"req-{number}",
                        "custom_id": cid,
                        "response": {"status_code": 200, "request_id": f"r{number}", "body": body},
                        "error": None,
                    }
                )
        if out:
            batch["output_file_id"] = self.add_file(
                "out.jsonl", "".join(json.dumps(x) + "\n" for x in out).encode(), "batch_output"
            )["id"]
        if err:
            batch["error_file_id"] = self.add_file(
                "err.jsonl", "".join(json.dumps(x) + "\n" for x in err).encode(), "batch_output"
            )["id"]
        batch["status"] = "expired" if scenario == "expire_half" else "completed"
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}


class _OpenAIHandler(_Handler):
    def _route(self, method: str):
        app: OpenAIStub = self.server.app
        body = self._body()
        app.requests.append((method, self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = self.path.split("?")[0]
        if app.accepted_key and self.headers.get("Authorization") != f"Bearer {app.accepted_key}":
            return self._send(
                401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
            )
        if app.echo_key:
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            return self._send(400, {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid"}})
        if method == "POST" and path == "/v1/files":
            if app.upload_failures > 0:
                app.upload_failures -= 1
                return self._send(400, {"error": {"message": "upload rejected", "type": "invalid_request_error"}})
            name, data, purpose = _multipart(self.headers["Content-Type"], body)
            record = app.add_file(name, data, purpose)
            return self._send(200, {k: v for k, v in record.items() if not k.startswith("_")})
        if method == "GET" and path == "/v1/files":
            data = [{k: v for k, v in f.items() if not k.startswith("_")} for f in app.files.values()]
            return self._send(200, {"object": "list", "data": data, "has_more": False})
        match = re.fullmatch(r"/v1/files/([\w-]+)(/content)?", path)
        if match and match.group(1) in app.files:
            record = app.files[match.group(1)]
            if method == "DELETE":
                del app.files[match.group(1)]
                return self._send(200, {"id": record["id"], "object": "file", "deleted": True})
            if match.group(2):
                return self._send(200, record["_data"], "application/octet-stream")
            return self._send(200, {k: v for k, v in record.items() if not k.startswith("_")})
        if method == "POST" and path == "/v1/batches":
            request = json.loads(body)
            batch_id = app.new_id("batch")
            app.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": request["endpoint"],
                "errors": None,
                "input_file_id": request["input_file_id"],
                "completion_window": request["completion_window"],
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()) + len(app.batches),
                "metadata": request.get("metadata"),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }
            return self._send(200, app.batches[batch_id])
        if method == "GET" and path == "/v1/batches":
            return self._send(200, {"object": "list", "data": list(app.batches.values()), "has_more": False})
        match = re.fullmatch(r"/v1/batches/([\w-]+)", path)
        if method == "GET" and match and match.group(1) in app.batches:
            batch = app.batches[match.group(1)]
            app.advance(batch)
            return self._send(200, batch)
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(app, json.loads(body))
        return self._send(404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}})

    def _chat(self, app: OpenAIStub, request: dict):
        app.chat_calls += 1
        with app.lock:
            failure = app.chat_failures.pop(0) if app.chat_failures else None
        if failure is not None:
            return self._send(
                failure, {"error": {"message": "slow down", "type": "rate_limit"}}, headers={"Retry-After": "0"}
            )
        text = "".join(
            p.get("text", "")
            for m in request["messages"]
            for p in (m["content"] if isinstance(m["content"], list) else [{"text": m["content"]}])
        )
        if "determine its orientation" in text or "Analyze this document" in text or "```html" in text:
            return self._synth_chat(app, request, text)
        if "PLEASE-REFUSE" in text:
            return self._send(200, chat_completion(None, refusal="I cannot help with that."))
        if "BLANK-PAGE" in text:
            content = {
                "cleaned_text": "null",
                "is_page_all_blank": False,
                "primary_language": None,
                "is_rotation_valid": True,
                "rotation_correction": 0,
                "is_table": False,
                "is_diagram": False,
                "confidence_score": 0.5,
                "corrections_made": [],
            }
        else:
            body = text.split("\n\n", 1)[-1]
            content = {
                "cleaned_text": "Cleaned: " + body.split("---")[-1].strip()[:40],
                "is_page_all_blank": False,
                "primary_language": "no" if "NORSK" in text else "en",
                "is_rotation_valid": True,
                "rotation_correction": 0,
                "is_table": False,
                "is_diagram": False,
                "confidence_score": 0.9,
                "corrections_made": ["fixed spacing"],
            }
        return self._send(200, chat_completion(json.dumps(content)))

    def _synth_chat(self, app: OpenAIStub, request: dict, text: str):
        """mine_html_pages' four requests, answered from `synth_pages` by the size of the first image."""
        app.chat_requests.append(request)
        images = [p["image_url"]["url"] for p in request["messages"][0]["content"] if p["type"] == "image_url"]
        png = base64.b64decode(images[0].split(",", 1)[1])
        page = app.synth_pages.get(Image.open(io.BytesIO(png)).size) or app.synth_pages.get("default") or {}
        if "determine its orientation" in text:
            answer = page.get("orientation", "RIGHT_SIDE_UP")
        elif "Analyze this document" in text:
            answer = "A single-column page with a header, a table and a footer."
        elif "Render this document" in text:
            answer = f"Here it is:\n```html\n{page.get('html', '')}\n```"
        else:
            with app.lock:
                refinements = sum("two images" in json.dumps(r) for r in app.chat_requests)
            if app.refinements_before_hold is not None and refinements > app.refinements_before_hold:
                app.holding.set()
                app._released.wait(600)  # held until the server stops (its client was killed meanwhile)
                return
            answer = f"Revised:\n```html\n{page.get('refined') or page.get('html', '')}\n```"
        reply = chat_completion(answer)
        reply["usage"] = {"prompt_tokens": 100 * len(images) + len(text) // 4, "completion_tokens": len(answer) // 4}
        reply["usage"]["total_tokens"] = sum(reply["usage"].values())
        return self._send(200, reply)

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")


def _multipart(content_type: str, body: bytes) -> tuple[str, bytes, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    name, data, purpose = "upload.jsonl", b"", ""
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition")
        if field == "file":
            name = part.get_filename() or name
            data = part.get_payload(decode=True)
        elif field == "purpose":
            purpose = part.get_payload(decode=True).decode()
    return name, data, purpose


class FileServer(_Server):
    """Serves `files[path] = (bytes, content_type)`; `failures[path]` lists statuses to answer first."""

    def __init__(self):
        super().__init__(_FileHandler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.failures: dict[str, list[int]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()


class _FileHandler(_Handler):
    def do_GET(self):
        app: FileServer = self.server.app
        path = self.path
        with app.lock:
            app.hits[path] = app.hits.get(path, 0) + 1
            pending = app.failures.get(path) or []
            status = pending.pop(0) if pending else None
        if status is not None:
            return self._send(status, b"try again", "text/plain", {"Retry-After": "0"} if status == 429 else None)
        if path.startswith("/stream-forever"):  # no Content-Length: the size cap must stop it
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(4096):
                    self.wfile.write(b"\xff" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if path not in app.files:
            return self._send(404, b"not found", "text/plain")
        data, content_type = app.files[path]
        self._send(200, data, content_type)
