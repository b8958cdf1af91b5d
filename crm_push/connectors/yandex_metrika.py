"""Yandex Metrika offline conversions: each qualifying call as a goal conversion of the visit
(by the yclid of the click, else the visit's Metrika ClientId), and a second conversion of
the deal goal with the deal's price when one is won.

`POST /management/v1/counter/{counterId}/offline_conversions/upload?client_id_type=...`, a
CSV file as multipart/form-data, `Authorization: OAuth <token>`; Metrika answers the upload
(`{"uploading": {"id", "status"}}`) and processes it within about two hours. Only visits of
the last 21 days take conversions.

With `upload_calls`, a call goes instead to `offline_conversions/upload_calls`, Metrika's own
calls upload (talk and hold time, missed, first-time caller, the number called), which shows
in its call reports and makes its own call goals; a won deal still goes as a conversion.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from crm_push.connectors.base import (
    Created,
    Job,
    api_base,
    conversion_of,
    destination_events,
    multipart_file,
    sent_value,
    unix,
)
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp

DEFAULT_BASE = "https://api-metrika.yandex.net"
DEFAULT_TARGET = "call"
DEFAULT_DEAL_TARGET = "deal_won"


def _visitor(job: Job) -> tuple[str, str, str]:
    """(client_id_type, its column, the id) Metrika ties the call to a visit by."""
    if job.the_call.yclid:
        return "YCLID", "Yclid", job.the_call.yclid
    ym = conversion_of(job).ym_client_id
    if ym:
        return "CLIENT_ID", "ClientId", ym
    raise CrmFailure(
        "the call has no yclid and its visit no Metrika ClientId (no _ym_uid cookie: "
        "Metrika is not on the page, or the visitor declined cookies)",
        permanent=True,
    )


def _csv(header: list[str], row: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(["" if cell is None else cell for cell in row])
    return out.getvalue()


def calls_file(job: Job) -> tuple[str, str]:
    """(client_id_type, the CSV) for upload_calls: the call with its figures."""
    call = job.the_call
    id_type, column, visitor = _visitor(job)
    won = sent_value(job)
    missed = call.outcome != "answered"
    talk = call.talk_duration if call.talk_duration is not None else (0 if missed else None)
    hold = max((call.duration or 0) - (talk or 0), 0) if call.duration is not None else None
    header = [column, "DateTime", "StaticCall", "PhoneNumber", "TalkDuration", "HoldDuration",
              "CallMissed", "FirstTimeCaller", "URL"]  # fmt: skip
    row: list[Any] = [
        visitor,
        unix(call.started_at),
        0 if call.attribution_method == "dynamic" else 1,
        call.called,
        talk,
        hold,
        1 if missed else 0,
        1 if call.first_time_caller else 0,
        call.landing_url,
    ]
    if won is not None:
        header += ["Price", "Currency"]
        row += [f"{won.revenue:.2f}", won.currency]
    return id_type, _csv(header, row)


def upload_file(job: Job) -> tuple[str, str]:
    """(client_id_type, the CSV) for the job's conversion."""
    call = job.the_call
    config = job.connector.config
    id_type, column, visitor = _visitor(job)
    won = sent_value(job)
    if job.event == "deal.won":
        target = str(config.get("deal_target") or DEFAULT_DEAL_TARGET)
        when = won.won_at if won else call.started_at
    else:
        target = str(config.get("target") or DEFAULT_TARGET)
        when = call.started_at
    header = [column, "Target", "DateTime"]
    row: list[Any] = [visitor, target, unix(when)]
    if won is not None:
        header += ["Price", "Currency"]
        row += [f"{won.revenue:.2f}", won.currency]
    return id_type, _csv(header, row)


class YandexMetrika:
    kind = "yandex_metrika"
    rate: Rate | None = None

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        return destination_events(config)

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        # An upload has no key of ours to look up; Metrika counts a repeated row of the same
        # visitor, goal and time once.
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        config = job.connector.config
        as_call = job.event == "call.attributed" and bool(config.get("upload_calls"))
        id_type, text = calls_file(job) if as_call else upload_file(job)
        body, content_type = multipart_file("file", "conversions.csv", text.encode(), "text/csv")
        counter = int(config["counter_id"])
        base = api_base(config, DEFAULT_BASE)
        method = "upload_calls" if as_call else "upload"
        reply = await crm.request(
            "POST",
            f"{base}/management/v1/counter/{counter}/offline_conversions/{method}",
            params={"client_id_type": id_type},
            headers={
                "Authorization": f"OAuth {job.connector.credentials['token']}",
                "Content-Type": content_type,
            },
            content=body,
            write=True,
        )
        answer = reply.json()
        uploading = answer.get("uploading") if isinstance(answer, dict) else None
        if not isinstance(uploading, dict) or "id" not in uploading:
            raise CrmFailure(
                f"Metrika answered no uploading: {crm.last.excerpt}",
                status_code=reply.status_code,
                created=None,
            )
        return Created(
            external_id=f"uploading:{uploading['id']}",
            refs={"status": uploading.get("status"), "client_id_type": id_type},
        )
