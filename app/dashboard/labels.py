"""The words for the stored codes the pages show (a call's status, a deal's, a delivery's...):
marked here for the catalogs, translated where shown (`{{ _(call.status) }}`)."""

from __future__ import annotations

from app.i18n import N_

CODES = (
    # calls
    N_("ringing"),
    N_("in_progress"),
    N_("ended"),
    N_("answered"),
    N_("missed"),
    N_("busy"),
    N_("failed"),
    # attribution methods
    N_("dynamic"),
    N_("source"),
    N_("offline"),
    N_("none"),
    # deals
    N_("open"),
    N_("won"),
    N_("lost"),
    # deliveries
    N_("pending"),
    N_("sent"),
    N_("dead"),
    N_("retry"),
    # roles
    N_("admin"),
    N_("viewer"),
)
