"""Return registrations: at the provincial Public Administration Centre or an agency's one-stop
desk, a citizen who files there registers for the result to be returned by post. The post keys
the registration by the agency's own dossier code (`agency_reference`) long before the result
exists: a `return_only` dossier in `registered`, logged through the intake's own operation
(`operations.create_dossier`), which then follows the lifecycle's return_only table (the
agency's result, the post fetching it, delivery). Operations flush, never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tracker.accounts.models import User
from tracker.catalogue.models import Agency
from tracker.catalogue.queries import find_procedure
from tracker.dossiers import lifecycle, operations
from tracker.dossiers.models import Dossier
from tracker.errors import Phrase, ValidationFailed
from tracker.extensions import db

SERVICE_FORM = "return_only"
# Who takes a registration: the post's clerks (their office fetches the result) and admins.
REGISTRAR_ROLES = ("clerk", "admin")


def register_return(data: dict[str, Any], actor: User | None) -> tuple[Dossier, str]:
    """Log a return registration (`RegistrationCreateIn`'s data). Returns the dossier with its
    lookup secret (shown once). The agency must be the procedure's; the agency's reference must
    name no other dossier of that agency (409, naming it only when `actor` may see it)."""
    agency_code = data["agency_code"]
    agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        raise ValidationFailed.field(
            "agency_code", Phrase("no agency with code %(code)s", code=agency_code)
        )
    procedure = find_procedure(data["procedure_code"])
    if procedure is not None and not procedure.allows(SERVICE_FORM):
        # The intake would name `service_form`, which a registration does not send.
        raise ValidationFailed.field(
            "procedure_code",
            Phrase("procedure %(code)s does not allow return by post", code=procedure.code),
        )
    if procedure is not None and procedure.agency_id != agency.id:
        raise ValidationFailed.field(
            "agency_code",
            Phrase(
                "procedure %(procedure)s is resolved by agency %(agency)s",
                procedure=procedure.code,
                agency=procedure.agency.code,
            ),
        )
    intake = {key: value for key, value in data.items() if key != "agency_code"}
    intake.update(service_form=SERVICE_FORM, documents=[])
    return operations.create_dossier(intake, actor, initial_status=lifecycle.REGISTERED)
