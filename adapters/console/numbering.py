"""Where the console's message numbers go on from: the highest the database refers to."""

from __future__ import annotations

import re

from sqlalchemy import Engine, Table, func, select
from sqlalchemy.sql.elements import ColumnElement

from bot.refs import CommunityRef
from storage.tables import ActionRow, CommunityRow, OutboxRow

_A: Table = ActionRow.__table__  # type: ignore[attr-defined]
_O: Table = OutboxRow.__table__  # type: ignore[attr-defined]
_CO: Table = CommunityRow.__table__  # type: ignore[attr-defined]
_NUMBER = re.compile(r"m(?P<n>[1-9][0-9]*)")


def highest_message_number(engine: Engine, community: CommunityRef) -> int:
    """The highest `mN` that a tracked message, a card, a thread or a delivery of the
    console's refers to (0 in a new database).

    The console keeps no counter of its own: a message only matters after a restart when
    something stored refers to it, so numbering on from the highest of those means a new
    message never takes the number of one the bot knows, with no table, migration or write
    per message. A message nothing refers to (an untracked post) may get its number again;
    nothing can mistake the new one for it.
    """
    a, o = _A.c, _O.c
    console = (
        select(_CO.c.id)
        .where(_CO.c.platform == community.platform, _CO.c.external_id == community.id)
        .scalar_subquery()
    )
    mine = a.community_id == console
    sources: list[tuple[ColumnElement[str], ColumnElement[bool]]] = [
        (a.source_message_id, mine),
        (a.card_message_id, mine),
        (a.thread_id, mine),
        (o.message_id, o.platform == community.platform),
    ]
    highest = 0
    with engine.connect() as connection:
        for column, where in sources:
            # `mN` has no leading zeros, so the longest, then the last in text order, is
            # the highest: no cast, which PostgreSQL would refuse on an id not of that form.
            top = connection.execute(
                select(column)
                .where(where, column.like("m%"))
                .order_by(func.length(column).desc(), column.desc())
                .limit(1)
            ).scalar()
            if top is not None and (found := _NUMBER.fullmatch(top)):
                highest = max(highest, int(found["n"]))
    return highest
