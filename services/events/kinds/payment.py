"""Payments: automatic top-ups of prepaid gas meters from linked bank accounts."""

from typing import Literal

from services.events.contract import EventData, Privacy, field, register

Q = Privacy.QUASI


@register("payment.gas", device="gas-meter")
class GasPayment(EventData):
    """A linked bank account paid for gas (prepaid balance fell below the threshold)."""

    VALUE_FIELD = "amount_kzt"

    account: str = field(Privacy.IDENTIFIER, "Bank account that paid", max_length=64)
    household: str = field(Privacy.IDENTIFIER, "Household whose meter was topped up", max_length=64)
    amount_kzt: float = field(Q, "Amount paid, tenge", gt=0, le=1_000_000)
    balance_kzt: float = field(Q, "Prepaid balance after the payment, tenge", ge=-1_000_000)
    method: Literal["auto", "manual"] = field(Privacy.TELEMETRY, "How the payment was made")
