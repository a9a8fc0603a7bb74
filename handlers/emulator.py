"""An in-memory Telegram Bot API: chats, messages, updates, scripted faults and rate budgets.

``newsbot console`` talks to it in-process (handlers/local_request.py) and the tests serve it on a
real socket (tests/fakes/telegram_server.py). It is thread-safe: every state change happens under
one lock, and waiters (long polling, tests) sleep on a condition of that lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from handlers.emulator_limits import SendBudget
from handlers.telegram_html import HtmlParseError, parse_html, utf16_len

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
LONG_POLL_CAP_SECONDS = 30.0

# Fields that PTB (and HTTP form bodies) carry as JSON strings; decoded before use.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "link_preview_options",
        "reply_parameters",
        "commands",
        "scope",
        "allowed_updates",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "message_thread_id",
        "user_id",
        "reply_to_message_id",
        "cache_time",
    }
)
_BOOL_FIELDS = frozenset(
    {"disable_web_page_preview", "disable_notification", "protect_content", "show_alert"}
)

_ADMIN_RIGHTS = (
    "can_be_edited",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
)

FaultKind = Literal[
    "rate_limited",
    "server_error",
    "forbidden",
    "chat_not_found",
    "migrated",
    "parse_error",
    "too_long",
    "delay",
    "bad_request",
]
ChatType = Literal["private", "group", "supergroup", "channel"]
Reply = tuple[int, dict[str, Any]]


@dataclass(slots=True)
class Fault:
    """A scripted failure: the next ``times`` matching calls answer with ``kind``.

    ``times=None`` means every matching call, forever. ``delay`` sleeps ``seconds`` and then
    answers normally, so a client with a shorter timeout sees a timeout. ``bad_request``
    answers 400 with ``description``.
    """

    kind: FaultKind
    method: str = "sendMessage"
    chat_id: int | None = None
    times: int | None = 1
    retry_after: int = 1
    status: int = 500
    new_chat_id: int | None = None
    seconds: float = 0.0
    description: str = "Bad Request: message thread not found"  # for kind "bad_request"


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the emulator received, with its decoded parameters."""

    method: str
    params: dict[str, Any]
    time: float


@dataclass(slots=True)
class Chat:
    """A chat the emulator knows about."""

    id: int
    type: ChatType
    title: str | None = None
    is_forum: bool = False
    admins: tuple[int, ...] = ()
    next_message_id: int = 1

    def as_json(self) -> dict[str, Any]:
        """The Bot API ``Chat`` object."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.title or f"User{self.id}"
        else:
            out["title"] = self.title or f"Chat {self.id}"
        if self.is_forum:
            out["is_forum"] = True
        return out


def ok(result: Any) -> Reply:
    """A successful Bot API answer."""
    return 200, {"ok": True, "result": result}


def error(status: int, description: str, **parameters: int) -> Reply:
    """A failed Bot API answer with Telegram's shape."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body


class ApiError(Exception):
    """Raised inside a method to answer with a Bot API error."""

    def __init__(self, status: int, description: str, **parameters: int) -> None:
        super().__init__(description)
        self.reply = error(status, description, **parameters)


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    """Decode per-field JSON, integers and booleans that arrive as strings in form bodies."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str):
            if key in _JSON_FIELDS and value[:1] in ("{", "["):
                # Undecodable JSON stays a string; the method then rejects the field.
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            elif key in _INT_FIELDS and value.lstrip("-").isdigit():
                value = int(value)
            elif key in _BOOL_FIELDS and value in ("true", "false"):
                value = value == "true"
        out[key] = value
    return out


class BotApiEmulator:
    """Answers Bot API methods from memory, records every call and plays scripted faults."""

    def __init__(
        self,
        *,
        bot_id: int = 1000,
        username: str = "newsbot_test_bot",
        enforce_limits: bool = False,
        auto_create_chats: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_id = bot_id
        self.username = username
        self.enforce_limits = enforce_limits
        # When False, sending to a chat nobody registered answers "chat not found" like Telegram.
        self.auto_create_chats = auto_create_chats
        self.rate_limited_count = 0
        self.calls: list[ApiCall] = []
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._chats: dict[int, Chat] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._sent: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_callback_id = 1
        self._open_callbacks: set[str] = set()
        self.callback_answers: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._budget = SendBudget()
        self._methods: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": lambda p: ok(True),
            "getWebhookInfo": lambda p: ok(
                {
                    "url": "",
                    "has_custom_certificate": False,
                    "pending_update_count": len(self._updates),
                }
            ),
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": lambda p: ok(True),
            "deleteMessage": self._delete_message,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "close": lambda p: ok(True),
            "logOut": lambda p: ok(True),
        }

    # ----------------------------------------------------------------- the API surface

    def handle(self, method: str, params: dict[str, Any]) -> Reply:
        """Answer one Bot API call: (HTTP status, JSON body)."""
        decoded = decode_params(params)
        with self._lock:
            self.calls.append(ApiCall(method, decoded, self._clock()))
            fault = self._take_fault(method, decoded)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)  # outside the lock: other clients keep being served
        elif fault is not None:
            return self._fault_reply(fault)
        handler = self._methods.get(method)
        if handler is None:
            return error(404, "Not Found: method not found")
        try:
            if method == "getUpdates":
                return handler(decoded)  # waits without holding the lock
            with self._lock:
                return handler(decoded)
        except ApiError as exc:
            return exc.reply
        except (KeyError, TypeError, ValueError) as exc:
            logger.info("emulator bad request method=%s error=%r", method, exc)
            return error(400, f"Bad Request: invalid parameters: {exc}")

    def inject(self, fault: Fault) -> None:
        """Queue a scripted fault; faults are matched in the order they were injected."""
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()

    # ----------------------------------------------------------------- chats and users

    def register_chat(
        self,
        chat_id: int,
        type: ChatType = "private",
        title: str | None = None,
        *,
        is_forum: bool = False,
        admins: tuple[int, ...] = (),
    ) -> None:
        """Create (or redefine) a chat; ``is_forum`` makes a supergroup with topics."""
        with self._lock:
            old = self._chats.get(chat_id)
            chat = Chat(chat_id, type, title, is_forum, admins)
            if old is not None:
                chat.next_message_id = old.next_message_id
            self._chats[chat_id] = chat

    def user_says(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: ChatType = "private",
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """Queue an update in which a user writes ``text`` in ``chat_id``; returns its update_id."""
        with self._lock:
            chat = self._chat(chat_id, chat_type)
            uid = user_id if user_id is not None else (chat_id if chat_id > 0 else 4242)
            message: dict[str, Any] = {
                "message_id": self._new_message_id(chat),
                "date": int(time.time()),
                "chat": chat.as_json(),
                "text": text,
            }
            if chat.type == "channel":
                message["sender_chat"] = chat.as_json()
            else:
                message["from"] = self._user(uid)
            entities = self._command_entities(text)
            if entities:
                message["entities"] = entities
            if reply_to_message_id is not None:
                replied = self._messages.get((chat_id, reply_to_message_id))
                if replied is not None:
                    message["reply_to_message"] = replied
            if message_thread_id is not None:
                message["message_thread_id"] = message_thread_id
                message["is_topic_message"] = True
            self._messages[(chat_id, message["message_id"])] = message
            key = "channel_post" if chat.type == "channel" else "message"
            return self._push_update({key: message})

    def user_presses(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> int:
        """Queue a callback_query update: a user pressed a button on a sent message."""
        with self._lock:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                raise ValueError(f"no message chat_id={chat_id} message_id={message_id}")
            uid = user_id if user_id is not None else (chat_id if chat_id > 0 else 4242)
            query_id = str(self._next_callback_id)
            self._next_callback_id += 1
            self._open_callbacks.add(query_id)
            query = {
                "id": query_id,
                "from": self._user(uid),
                "message": message,
                "chat_instance": str(chat_id),
                "data": data,
            }
            return self._push_update({"callback_query": query})

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent (as currently stored), optionally for one chat, oldest first."""
        with self._lock:
            current = [
                self._messages.get((m["chat"]["id"], m["message_id"]), m) for m in self._sent
            ]
            return [m for m in current if chat_id is None or m["chat"]["id"] == chat_id]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """One stored message (sent by the bot or a user), or None when absent or deleted."""
        with self._lock:
            return self._messages.get((chat_id, message_id))

    def wait_for_messages(self, chat_id: int, count: int, timeout: float) -> list[dict[str, Any]]:
        """Block until the bot sent ``count`` messages to ``chat_id`` or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.sent_messages(chat_id)
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._changed.wait(remaining)

    def wait_updates(self, offset: int | None, limit: int, timeout: float) -> list[dict[str, Any]]:
        """Confirm updates below ``offset``, then wait up to ``timeout`` s for pending ones."""
        deadline = time.monotonic() + min(max(timeout, 0.0), LONG_POLL_CAP_SECONDS)
        with self._changed:
            if offset is not None:
                # Telegram forgets every update below the offset once it is asked for it.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                pending = [u for u in self._updates if offset is None or u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if pending or remaining <= 0:
                    return pending[: max(1, min(limit, 100))]
                self._changed.wait(remaining)

    # ----------------------------------------------------------------- methods

    def _get_me(self, params: dict[str, Any]) -> Reply:
        return ok(
            {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "newsbot",
                "username": self.username,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    def _get_updates(self, params: dict[str, Any]) -> Reply:
        offset = params.get("offset")
        limit = int(params.get("limit", 100))
        timeout = float(params.get("timeout", 0))
        return ok(self.wait_updates(offset if isinstance(offset, int) else None, limit, timeout))

    def _commands_key(self, params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any]) -> Reply:
        commands = params.get("commands")
        if not isinstance(commands, list):
            return error(400, "Bad Request: commands must be an array")
        self._commands[self._commands_key(params)] = commands
        return ok(True)

    def _get_my_commands(self, params: dict[str, Any]) -> Reply:
        return ok(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: dict[str, Any]) -> Reply:
        self._commands.pop(self._commands_key(params), None)
        return ok(True)

    def _send_message(self, params: dict[str, Any]) -> Reply:
        chat = self._target_chat(params)
        text, entities = self._parse_text(params)
        self._check_markup(params.get("reply_markup"))
        self._charge_budget(chat)
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat),
            "from": self._get_me({})[1]["result"],
            "chat": chat.as_json(),
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        self._copy_optional(params, message)
        self._messages[(chat.id, message["message_id"])] = message
        self._sent.append(message)
        self._changed.notify_all()
        return ok(message)

    def _edit_message_text(self, params: dict[str, Any]) -> Reply:
        message = self._find_message(params, "Bad Request: message to edit not found")
        text, entities = self._parse_text(params)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if message["text"] == text and message.get("reply_markup") == markup:
            return error(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        edited = {k: v for k, v in message.items() if k not in ("entities", "reply_markup")}
        edited.update(text=text, edit_date=int(time.time()))
        if entities:
            edited["entities"] = entities
        if isinstance(markup, dict):
            edited["reply_markup"] = markup
        return self._store_edit(edited)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> Reply:
        message = self._find_message(params, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        self._check_markup(markup)
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        return self._store_edit(edited)

    def _store_edit(self, edited: dict[str, Any]) -> Reply:
        self._messages[(edited["chat"]["id"], edited["message_id"])] = edited
        self._changed.notify_all()
        return ok(edited)

    def _answer_callback_query(self, params: dict[str, Any]) -> Reply:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            return error(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(params)
        return ok(True)

    def _delete_message(self, params: dict[str, Any]) -> Reply:
        message = self._find_message(params, "Bad Request: message to delete not found")
        del self._messages[(message["chat"]["id"], message["message_id"])]
        return ok(True)

    def _get_chat(self, params: dict[str, Any]) -> Reply:
        chat = self._target_chat(params)
        return ok({**chat.as_json(), "accent_color_id": 0, "max_reaction_count": 11})

    def _get_chat_member(self, params: dict[str, Any]) -> Reply:
        chat = self._target_chat(params)
        user_id = int(params["user_id"])
        if user_id in chat.admins or (user_id == self.bot_id and chat.type != "private"):
            return ok(self._admin_member(user_id))
        return ok({"status": "member", "user": self._user(user_id)})

    def _get_chat_administrators(self, params: dict[str, Any]) -> Reply:
        chat = self._target_chat(params)
        if chat.type == "private":
            return error(400, "Bad Request: there are no administrators in the private chat")
        return ok([self._admin_member(uid) for uid in (*chat.admins, self.bot_id)])

    # ----------------------------------------------------------------- helpers

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self._faults:
            if fault.method != method:
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _fault_reply(self, fault: Fault) -> Reply:
        if fault.kind == "rate_limited":
            return error(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                retry_after=fault.retry_after,
            )
        if fault.kind == "server_error":
            phrase = "Bad Gateway" if fault.status == 502 else "Internal Server Error"
            return error(fault.status, phrase)
        if fault.kind == "forbidden":
            return error(403, "Forbidden: bot was blocked by the user")
        if fault.kind == "chat_not_found":
            return error(400, "Bad Request: chat not found")
        if fault.kind == "migrated":
            new_id = fault.new_chat_id if fault.new_chat_id is not None else -1001234567890
            return error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=new_id,
            )
        if fault.kind == "parse_error":
            return error(
                400,
                'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0',
            )
        if fault.kind == "bad_request":
            return error(400, fault.description)
        return error(400, "Bad Request: message is too long")

    def _chat(self, chat_id: int, chat_type: ChatType = "private") -> Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = Chat(chat_id, chat_type)
            self._chats[chat_id] = chat
        return chat

    def _target_chat(self, params: dict[str, Any]) -> Chat:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        chat = self._chats.get(chat_id)
        if chat is None and self.auto_create_chats:
            chat = self._chat(chat_id, "private" if chat_id > 0 else "group")
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _find_message(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        key = (params.get("chat_id"), params.get("message_id"))
        message = self._messages.get(key)  # type: ignore[arg-type]
        if message is None:
            raise ApiError(400, missing)
        return message

    def _parse_text(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        mode = str(params.get("parse_mode") or "").lower()
        if mode == "html":
            try:
                text, entities = parse_html(raw)
            except HtmlParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is stored as written: the emulator only understands HTML markup.
            text = raw.strip()
            given = params.get("entities")
            entities = given if isinstance(given, list) else []
        else:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {params.get('parse_mode')}")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _check_markup(self, markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _copy_optional(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        replied = self._messages.get((message["chat"]["id"], reply_id)) if reply_id else None
        if replied is not None:
            message["reply_to_message"] = replied

    def _charge_budget(self, chat: Chat) -> None:
        """Telegram's sending budgets, when enforced: 429 with retry_after when exceeded."""
        if not self.enforce_limits:
            return
        wait = self._budget.charge(chat.id, chat.type == "private", self._clock())
        if wait > 0:
            self.rate_limited_count += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def _new_message_id(self, chat: Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _push_update(self, body: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **body})
        self._changed.notify_all()
        return update_id

    def _command_entities(self, text: str) -> list[dict[str, Any]]:
        if not text.startswith("/"):
            return []
        command = text.split(maxsplit=1)[0]
        return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]

    def _user(self, user_id: int) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": "en",
        }

    def _admin_member(self, user_id: int) -> dict[str, Any]:
        user = self._get_me({})[1]["result"] if user_id == self.bot_id else self._user(user_id)
        return {
            "status": "administrator",
            "user": user,
            "is_anonymous": False,
            **dict.fromkeys(_ADMIN_RIGHTS, True),
        }
