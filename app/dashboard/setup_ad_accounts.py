"""Ad accounts from the dashboard: connect Yandex Direct, Google Ads or VK Ads with only the
fields each needs (and where to find them), see each account's last import, import now,
and map platform campaign names to the utm_campaign the visits carry."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from app.costs.accounts import service as accounts_service
from app.costs.accounts.platforms import LABELS
from app.costs.accounts.platforms.base import ImportFailed
from app.costs.accounts.schemas import AdAccountCreate, MappingIn
from app.dashboard.csrf import CsrfChecked
from app.dashboard.form_errors import field_message
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, SitePage, redirect
from app.exceptions import InvalidField
from app.i18n import N_, gettext, ngettext
from app.kit.outbound import OutboundPolicy

router = APIRouter(
    prefix="/sites/{site_id}/ad-accounts", route_class=HtmlRoute, include_in_schema=False
)

# (field, label, secret, required, where to find it in the platform's own settings)
Field = tuple[str, str, bool, bool, str]
PLATFORM_FIELDS: dict[str, tuple[Field, ...]] = {
    "yandex_direct": (
        ("token", N_("OAuth token"), True, True,
         N_("Create an app at oauth.yandex.ru with access to the Yandex Direct API, then open "
         "https://oauth.yandex.ru/authorize?response_type=token&client_id=YOUR_APP_ID "
         "and copy the token.")),
        ("client_login", N_("Client login (agencies only)"), False, False,
         N_("An agency account imports a client's spend: the client's Yandex login, as the agency "
         "interface lists it. Leave empty for your own account.")),
    ),
    "google_ads": (
        ("developer_token", N_("Developer token"), True, True,
         N_("Google Ads, manager account: Tools → Setup → API Center.")),
        ("client_id", N_("OAuth client ID"), False, True,
         N_("Google Cloud console → APIs & Services → Credentials → an OAuth client "
            "(Desktop app).")),
        ("client_secret", N_("OAuth client secret"), True, True,
         N_("Shown beside the client ID in the same Credentials page.")),
        ("refresh_token", N_("Refresh token"), True, True,
         N_("Sign in once with the OAuth client and the scope "
            "https://www.googleapis.com/auth/adwords "
         "(the OAuth Playground, or the google-ads library's generate_user_credentials example).")),
        ("customer_id", N_("Customer ID"), False, True,
         N_("The 10-digit ID at the top right of Google Ads, such as 123-456-7890.")),
        ("login_customer_id", N_("Manager account ID (if you use one)"), False, False,
         N_("When you reach the account through a manager account: that account's ID.")),
    ),
    "vk_ads": (
        ("account_id", N_("Ad account ID"), False, True,
         N_("ads.vk.com: the number under the account's name, top left.")),
        ("token", N_("Access token"), True, False,
         N_("ads.vk.com → Settings → API access: a token; or leave it empty and give the "
         "client ID and secret.")),
        ("client_id", N_("Client ID"), False, False,
         N_("ads.vk.com → Settings → API access: the client_id of the API access.")),
        ("client_secret", N_("Client secret"), True, False,
         N_("Shown beside the client ID; Callsource gets and renews the tokens itself.")),
    ),
}  # fmt: skip
_CREATE: TypeAdapter[Any] = TypeAdapter(AdAccountCreate)


async def _page(
    at: SitePage,
    *,
    notice: str | None = None,
    form_kind: str = "",
    form_errors: dict[str, str] | None = None,
    form_values: dict[str, str] | None = None,
    import_errors: dict[uuid.UUID, str] | None = None,
    mapping_errors: dict[uuid.UUID, str] | None = None,
    status: int = 200,
) -> Response:
    accounts = await accounts_service.list_accounts(at.db, site_id=at.site.id)
    mappings = {a.id: await accounts_service.list_mappings(at.db, a) for a in accounts}
    response = at.render(
        "ad_accounts.html",
        nav="costs",
        notice=notice,
        accounts=accounts,
        mappings=mappings,
        labels=LABELS,
        fields=PLATFORM_FIELDS,
        form_kind=form_kind,
        form_errors=form_errors or {},
        form_values=form_values or {},
        import_errors=import_errors or {},
        mapping_errors=mapping_errors or {},
    )
    response.status_code = status
    return response


@router.get("")
async def ad_accounts(at: OnSite, imported: int = -1) -> Response:
    notice = (
        ngettext("%(num)s cost row imported.", "%(num)s cost rows imported.", imported)
        if imported >= 0
        else None
    )
    return await _page(at, notice=notice)


def _errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][-1]) if error["loc"] else "kind"
        if where in PLATFORM_FIELDS or where.startswith("function-"):
            where = "kind"
        message = field_message(error)
        if error["type"] in ("missing", "too_short", "string_too_short"):
            message = gettext("this field is required")
        errors.setdefault(where, message)
    return errors


@router.post("/connect", dependencies=[CsrfChecked])
async def connect(request: Request, at: OnSite) -> Response:
    """One platform's account with its credentials; checked whole before anything is stored."""
    require_admin(at.account)
    form = await request.form()
    kind = str(form.get("kind", ""))
    if kind not in PLATFORM_FIELDS:
        return await _page(at, form_errors={"kind": gettext("choose an ad platform")}, status=422)
    data: dict[str, str] = {"kind": kind}
    for extra in ("name", "api_base"):
        if value := str(form.get(extra, "")).strip():
            data[extra] = value
    for field, _, _, _, _ in PLATFORM_FIELDS[kind]:
        if value := str(form.get(field, "")).strip():
            data[field] = value
    secrets = {f for f, _, secret, _, _ in PLATFORM_FIELDS[kind] if secret}
    shown = {k: v for k, v in data.items() if k not in secrets}
    try:
        parsed = _CREATE.validate_python(data)
        outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
        await accounts_service.create_account(at.db, at.site, parsed, now=at.now, outbound=outbound)
    except ValidationError as exc:
        return await _page(
            at, form_kind=kind, form_errors=_errors(exc), form_values=shown, status=422
        )
    except InvalidField as exc:
        message = exc.detail.split(": ", 1)[-1]
        return await _page(
            at, form_kind=kind, form_errors={exc.field: message}, form_values=shown, status=422
        )
    return redirect(f"/sites/{at.site.id}/ad-accounts")


@router.post("/{account_id}/import", dependencies=[CsrfChecked])
async def import_now(at: OnSite, account_id: uuid.UUID) -> Response:
    """The last week, now; the platform's refusal shown beside the account."""
    require_admin(at.account)
    account = await accounts_service.get_account(at.db, site_id=at.site.id, account_id=account_id)
    first, last = accounts_service.recent_days(at.site, now=at.now)
    try:
        result = await accounts_service.import_now(
            at.db,
            account,
            first_day=first,
            last_day=last,
            now=at.now,
            outbound=OutboundPolicy.parse(at.page.settings.outbound_allow),
        )
    except ImportFailed as failure:
        return await _page(at, import_errors={account.id: failure.detail}, status=502)
    return redirect(f"/sites/{at.site.id}/ad-accounts?imported={result.rows}")


@router.post("/{account_id}/retire", dependencies=[CsrfChecked])
async def retire(at: OnSite, account_id: uuid.UUID) -> Response:
    require_admin(at.account)
    await accounts_service.retire_account(
        at.db, site_id=at.site.id, account_id=account_id, now=at.now
    )
    return redirect(f"/sites/{at.site.id}/ad-accounts")


@router.post("/{account_id}/mappings", dependencies=[CsrfChecked])
async def set_mapping(
    at: OnSite,
    account_id: uuid.UUID,
    platform_campaign: Annotated[str, Form(max_length=500)] = "",
    utm_campaign: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    require_admin(at.account)
    account = await accounts_service.get_account(at.db, site_id=at.site.id, account_id=account_id)
    try:
        data = MappingIn(platform_campaign=platform_campaign, utm_campaign=utm_campaign)
    except ValidationError as exc:
        where = str(exc.errors()[0]["loc"][-1])
        return await _page(
            at,
            mapping_errors={account.id: gettext("%(field)s: this field is required", field=where)},
            status=422,
        )
    await accounts_service.set_mapping(at.db, account, data, now=at.now)
    return redirect(f"/sites/{at.site.id}/ad-accounts")


@router.post("/{account_id}/mappings/{mapping_id}/delete", dependencies=[CsrfChecked])
async def delete_mapping(at: OnSite, account_id: uuid.UUID, mapping_id: uuid.UUID) -> Response:
    require_admin(at.account)
    account = await accounts_service.get_account(at.db, site_id=at.site.id, account_id=account_id)
    await accounts_service.delete_mapping(at.db, account, mapping_id=mapping_id)
    return redirect(f"/sites/{at.site.id}/ad-accounts")
