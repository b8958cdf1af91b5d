"""All ORM models, one per file; importing this package registers every table on Base.metadata."""

from app.models.ad_account import AdAccount
from app.models.ad_campaign_mapping import AdCampaignMapping
from app.models.ad_cost import AdCost
from app.models.base import Base
from app.models.call import Call
from app.models.call_key import CallKey
from app.models.call_note import CallNote
from app.models.call_tag import CallTag
from app.models.crm_connector import CrmConnector
from app.models.deal import Deal
from app.models.delivery_attempt import DeliveryAttempt
from app.models.form_lead import FormLead
from app.models.number_assignment import NumberAssignment
from app.models.number_fallback import NumberFallback
from app.models.outbox_delivery import OutboxDelivery
from app.models.pbx_event import PbxEvent
from app.models.pbx_integration import PbxIntegration
from app.models.pbx_refusal import PbxRefusal
from app.models.pool import Pool
from app.models.report_rollup import (
    CallCredit,
    CallRollup,
    CreditChange,
    ReportRollupState,
    RevenueRollup,
    VisitRollup,
)
from app.models.site import Site
from app.models.snippet_refusal import SnippetRefusal
from app.models.target_number import TargetNumber
from app.models.tracking_number import NumberKind, TrackingNumber
from app.models.tracking_session import TrackingSession
from app.models.user import User
from app.models.user_site import UserSite
from app.models.user_token import UserToken
from app.models.visitor import Visitor

__all__ = [
    "AdAccount",
    "AdCampaignMapping",
    "AdCost",
    "Base",
    "Call",
    "CallCredit",
    "CallKey",
    "CallNote",
    "CallRollup",
    "CallTag",
    "CreditChange",
    "CrmConnector",
    "Deal",
    "DeliveryAttempt",
    "FormLead",
    "NumberAssignment",
    "NumberFallback",
    "NumberKind",
    "OutboxDelivery",
    "PbxEvent",
    "PbxIntegration",
    "PbxRefusal",
    "Pool",
    "ReportRollupState",
    "RevenueRollup",
    "Site",
    "SnippetRefusal",
    "TargetNumber",
    "TrackingNumber",
    "TrackingSession",
    "User",
    "UserSite",
    "UserToken",
    "VisitRollup",
    "Visitor",
]
