"""The rows the logic layer hands up to the schema. They are db/'s plain records; naming them
here keeps the schema's imports to the logic layer alone."""

from __future__ import annotations

from db.records import ConversationRow as ConversationRow
from db.records import MessageRow as MessageRow
from db.records import SearchHitRow as SearchHitRow
from db.records import UserRow as UserRow
