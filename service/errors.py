"""Every error code vidgate answers with, in one table: its HTTP status, its CLI exit code and meaning.

The API's status mapping (`service.api.errors`), the CLI's exit codes (`service.cli`) and
docs/errors.md (``python -m service.errors > docs/errors.md``; a test keeps the file identical) all
come from `ERRORS`. Codes of bad input are raised as `pipelines.errors.VidgateError` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED_INPUTS = 1  # some inputs failed; each is named on stderr with its code
EXIT_USAGE = 2  # bad options or usage
EXIT_MODEL = 3  # the model could not be loaded


@dataclass(frozen=True)
class ErrorCode:
    """How one code surfaces: ``http`` status (None: never over HTTP), CLI ``exit`` code (None: not a CLI
    outcome), and what it means."""

    http: int | None
    exit: int | None
    meaning: str


ERRORS: dict[str, ErrorCode] = {
    # options and requests
    "bad_options": ErrorCode(400, EXIT_USAGE, "an option is unknown or out of range (each problem is named)"),
    "bad_request": ErrorCode(400, None, "the request is malformed (multipart body, headers)"),
    "bad_cursor": ErrorCode(400, None, "a listing cursor this API did not hand out"),
    "upload_timeout": ErrorCode(408, None, "the client sent nothing for VIDGATE_UPLOAD_IDLE_TIMEOUT_S; upload dropped"),
    "upload_aborted": ErrorCode(400, None, "the client closed the connection mid-upload; nothing was kept"),
    "validation_error": ErrorCode(422, None, "a path or query parameter has the wrong type or range"),
    "unauthorized": ErrorCode(401, None, "an API key is required and none was sent"),
    "forbidden": ErrorCode(403, None, "the API key is not valid"),
    "not_found": ErrorCode(404, None, "no such job, snippet, dead letter or route (another owner's job is not "
                          "found either)"),
    "method_not_allowed": ErrorCode(405, None, "the route exists, the method does not"),
    "conflict": ErrorCode(409, None, "the job changed state while being cancelled (retry), or an upload took the "
                          "idempotency key of the job's evidence (evidence:{id})"),
    "job_not_finished": ErrorCode(409, None, "artifacts exist once the job has succeeded"),
    "job_finished": ErrorCode(409, None, "a cancel of a job that has already finished (succeeded, failed or "
                              "cancelled): there is nothing to stop; DELETE removes it"),
    "snippet_not_selected": ErrorCode(409, None, "the snippet was not selected, so it has no clip"),
    "evidence_unavailable": ErrorCode(409, None, "the job kept nothing to compute its evidence from (its files "
                                      "are gone); submit the video again with the option evidence"),
    "range_not_satisfiable": ErrorCode(416, None, "a media request's byte range starts past the end of the file"),
    # the input file
    "file_missing": ErrorCode(400, EXIT_FAILED_INPUTS, "the file does not exist"),
    "not_a_file": ErrorCode(400, EXIT_FAILED_INPUTS, "the path is a directory or a special file"),
    "empty_file": ErrorCode(422, EXIT_FAILED_INPUTS, "the file has zero bytes"),
    "not_a_video": ErrorCode(415, EXIT_FAILED_INPUTS, "the content is not a video container vidgate accepts "
                             "(allow-listed demuxers, docs/decoding.md)"),
    "unsupported_container": ErrorCode(415, EXIT_FAILED_INPUTS, "a list or playlist that refers to other files "
                                       "(concat, HLS, DASH, SDP...); refused before any demuxing"),
    "no_video_stream": ErrorCode(415, EXIT_FAILED_INPUTS, "the container holds no video stream (audio only)"),
    "unsupported_codec": ErrorCode(415, EXIT_FAILED_INPUTS, "the video stream's codec cannot be decoded"),
    "unsupported_media_type": ErrorCode(415, None, "the request body is not multipart/form-data"),
    "truncated_video": ErrorCode(422, EXIT_FAILED_INPUTS, "the file ends before its frames do"),
    "file_too_large": ErrorCode(413, EXIT_FAILED_INPUTS, "the file or upload exceeds the size limit"),
    "video_too_long": ErrorCode(413, EXIT_FAILED_INPUTS, "the video exceeds the duration limit"),
    "video_too_large": ErrorCode(413, EXIT_FAILED_INPUTS, "the frame size exceeds the pixel limit"),
    "decode_failed": ErrorCode(422, EXIT_FAILED_INPUTS, "decoding failed part-way through"),
    "decode_timeout": ErrorCode(422, EXIT_FAILED_INPUTS, "decoding took longer than its time limit"),
    "decoder_crashed": ErrorCode(422, EXIT_FAILED_INPUTS, "the isolated decoder died on this file"),
    "decoder_out_of_memory": ErrorCode(422, EXIT_FAILED_INPUTS, "the isolated decoder hit its memory limit"),
    # batch sources
    "unsafe_member": ErrorCode(None, EXIT_FAILED_INPUTS, "an archive member with an absolute path, '..', a link "
                               "or a device; never extracted"),
    "archive_bomb": ErrorCode(None, EXIT_FAILED_INPUTS, "an archive member decompresses far beyond its size"),
    "member_too_large": ErrorCode(None, EXIT_FAILED_INPUTS, "an archive member exceeds the member size limit"),
    # models, data sets, training
    "bad_checkpoint": ErrorCode(None, EXIT_MODEL, "the checkpoint is missing, corrupt or does not fit its model"),
    "bad_dataset": ErrorCode(None, EXIT_FAILED_INPUTS, "a data set folder with problems (all are listed)"),
    "bad_weights": ErrorCode(None, EXIT_USAGE, "a pretrained weight file (--light-weights, --heavy-weights) that is "
                             "missing, unreadable or does not fit its backbone: under 95% of the trunk's tensors "
                             "match (the unmatched keys are named); --allow-partial-weights loads it anyway"),
    "work_folder_in_use": ErrorCode(None, EXIT_USAGE, "the training work folder holds another recipe or data "
                                    "(--restart starts over)"),
    # jobs, capacity and dependencies
    "cancelled": ErrorCode(None, None, "the job was cancelled on request (a job's error, not a response)"),
    "worker_error": ErrorCode(500, EXIT_FAILED_INPUTS, "a worker failed on the job; it is retried up to the cap"),
    "retries_exhausted": ErrorCode(500, EXIT_FAILED_INPUTS, "the job failed or took its worker down "
                                   "VIDGATE_MAX_DELIVERIES times, counted across restarts; not retried again"),
    "job_timeout": ErrorCode(422, EXIT_FAILED_INPUTS, "the job ran past its time limit (VIDGATE_JOB_TIME_LIMIT_S "
                             "plus VIDGATE_JOB_TIME_PER_VIDEO_S per second of video)"),
    "queue_full": ErrorCode(429, None, "the queue holds as many jobs as it may; retry after Retry-After"),
    "queue_unavailable": ErrorCode(503, None, "the job queue (SQLite or Redis) cannot be reached"),
    "storage_unavailable": ErrorCode(503, None, "the storage root cannot be written or read"),
    "not_ready": ErrorCode(503, None, "the model is still loading or failed to load"),
    "internal_error": ErrorCode(500, EXIT_FAILED_INPUTS, "a bug: logged with a traceback, reported with its type"),
}


def http_status(code: str) -> int:
    """The HTTP status of ``code`` (an unknown code of bad input is a 400)."""
    entry = ERRORS.get(code)
    return entry.http if entry is not None and entry.http is not None else 400


def errors_markdown() -> str:
    """docs/errors.md, from `ERRORS`."""
    lines = [
        "# Error codes",
        "",
        "Every error vidgate reports carries one of these stable codes: the API answers",
        '`{"error": {"code": ..., "message": ...}}` with the HTTP status below, the CLI prints',
        "`error: <file>: <message> [<code>]` and exits with the exit code below, batch records store the code.",
        "Generated from `service/errors.py` (`python -m service.errors > docs/errors.md`).",
        "",
        f"CLI exit codes: {EXIT_OK} success, {EXIT_FAILED_INPUTS} some inputs failed (the others still ran), "
        f"{EXIT_USAGE} bad options or usage, {EXIT_MODEL} the model could not be loaded.",
        "",
        "| code | HTTP | CLI exit | meaning |",
        "|---|---|---|---|",
    ]
    for code, entry in ERRORS.items():
        http = str(entry.http) if entry.http is not None else "—"
        exit_code = str(entry.exit) if entry.exit is not None else "—"
        lines.append(f"| `{code}` | {http} | {exit_code} | {entry.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(errors_markdown(), end="")
