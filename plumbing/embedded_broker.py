"""The embedded broker of ``make run``: kombu's filesystem transport, with atomic writes.

Kombu's own transport creates a message file and then writes it, while a consumer may
move the file away between the two and read it empty: the worker then dies on a JSON
error. Here a message is written under a name no consumer looks at and renamed into
place when complete, so a consumer sees a whole message or none. ``exchange.celery``
makes this the transport behind ``filesystem://`` URLs.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"  # consumers only take names ending in .{queue}.msg
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self) -> dict[str, Any]:
        # Folders, not a host: kombu's virtual transports default the hostname to
        # "localhost" and warn on every connection that none was given (every command
        # that queues a task printed it).
        return {}
