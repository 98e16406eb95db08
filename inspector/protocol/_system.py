"""Where Claude Code's late ``role:"system"`` messages go, so that every chat template accepts them.

Claude Code >= 2.1.154 puts system messages inside ``messages[]`` — the environment block right
after the user's prompt, ``<total_tokens>`` notes after tool results. Chat templates that
require strict user/assistant alternation (Mistral, Gemma, …) raise "Conversation roles must
alternate" at a second consecutive user message, and most reject a system message after the
first; one sent as a user message of its own shows the model an environment block as the
latest thing the user said.

So each one is merged, as its own part, into a user turn next to it:

* after a user turn with words: into that turn, just before its last text (the user's words
  stay the latest thing said; reminders before them keep their order);
* after a turn of tool results only: appended to the last result (a ``tool`` message cannot be
  followed by a user message under Mistral's alternation rule);
* after an assistant turn (or first): at the start of the next user turn — or, at the very end,
  a user turn of its own (it follows an assistant turn, so alternation holds).

Placement depends only on what precedes a system message, never on what follows it, so the
same conversation renders the same way turn after turn and a prefix cache survives.
"""

from __future__ import annotations

import dataclasses

from ._notes import Notes
from ._request import AssistantTurn, SystemTurn, Turn, UserTurn

__all__ = ["merge_system_turns"]

_WHY = "chat templates that require user/assistant alternation reject a late system message"


def _copy(turn: UserTurn) -> UserTurn:
    return UserTurn(texts=list(turn.texts), images=list(turn.images), images_after=list(turn.images_after),
                    tool_results=[dataclasses.replace(r) for r in turn.tool_results])


def _into_previous(turn: UserTurn, text: str, notes: Notes) -> None:
    if turn.texts:
        turn.insert_text(len(turn.texts) - 1, text)
        notes.converted(f"mid-conversation system message merged into the user message before it, "
                        f"ahead of the user's words ({_WHY})", rule="system:merged")
    elif turn.tool_results:
        last = turn.tool_results[-1]
        last.text = f"{last.text}\n\n{text}" if last.text else text
        notes.converted(f"mid-conversation system message appended to the tool result before it ({_WHY})",
                        rule="system:merged")
    else:
        turn.texts.append(text)
        notes.converted(f"mid-conversation system message merged into the user message before it ({_WHY})",
                        rule="system:merged")


def _into_next(turn: UserTurn, texts: list[str], notes: Notes) -> None:
    if turn.texts or not turn.tool_results:
        for text in reversed(texts):
            turn.insert_text(0, text, ahead_of_images=True)
        where = "at the start of the next user message"
    else:
        last = turn.tool_results[-1]
        last.text = "\n\n".join([last.text, *texts]) if last.text else "\n\n".join(texts)
        where = "to the tool result after it"
    for _ in texts:
        notes.converted(f"mid-conversation system message after an assistant turn merged {where} ({_WHY})",
                        rule="system:merged")


def merge_system_turns(turns: list[Turn], notes: Notes) -> list[Turn]:
    """``turns`` with every ``SystemTurn`` merged into a user turn (user turns touched are copies)."""
    if not any(isinstance(t, SystemTurn) for t in turns):
        return turns
    out: list[Turn] = []
    waiting: list[str] = []  # system texts after an assistant turn, for the next user turn
    for turn in turns:
        if isinstance(turn, SystemTurn):
            prev = out[-1] if out else None
            if isinstance(prev, UserTurn) and not waiting:
                _into_previous(prev, turn.text, notes)
            else:
                waiting.append(turn.text)
        elif isinstance(turn, UserTurn):
            turn = _copy(turn)
            if waiting:
                _into_next(turn, waiting, notes)
                waiting = []
            out.append(turn)
        else:
            assert isinstance(turn, AssistantTurn)
            if waiting:  # system turns between two assistant turns: a user turn of their own
                out.append(UserTurn(texts=waiting))
                notes.converted(f"mid-conversation system message between assistant turns sent as a user "
                                f"message ({_WHY})", rule="system:merged")
                waiting = []
            out.append(turn)
    if waiting:
        out.append(UserTurn(texts=waiting))
        notes.converted(f"mid-conversation system message at the end sent as a user message after the "
                        f"assistant turn ({_WHY})", rule="system:merged")
    return out
