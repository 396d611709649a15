"""AWS clients, created lazily and once per container, all from one botocore session.

The session's data loader skips botocore's scan of ~450 service directories (``ServiceNames``),
25-45 ms of each cold start. Details: docs/architecture.md, "Two functions, four kinds of
event"; docs/performance.md, "History".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Set
from typing import TYPE_CHECKING, Any

from skill import warm

if TYPE_CHECKING:
    import botocore.session

# The AWS services the function calls. The deployment package ships botocore's models for these
# alone (the Makefile's build-SkillFunction prunes the other ~450, 28 of botocore's 32 MB), so a
# client for any other service would fail in Lambda: ``client`` refuses it everywhere.
SERVICES = ("dynamodb", "kms", "secretsmanager")

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_session: botocore.session.Session | None = None


class ServiceNames(Set[str]):
    """The answer of ``Loader.list_available_services(type_name)``, worked out lazily.

    botocore only asks whether one service is among them (``load_service_model``). That is
    answered from the service's own directory, which loading the model lists anyway
    (``list_api_versions``, cached); the full listing is made only if something iterates it
    (botocore's message for an unknown service).
    """

    def __init__(self, loader: Any, type_name: str, scan: Callable[[str], list[str]]) -> None:
        self._loader, self._type_name, self._scan = loader, type_name, scan

    def __contains__(self, name: object) -> bool:
        from botocore.exceptions import DataNotFoundError

        if not isinstance(name, str):
            return False
        try:
            return bool(self._loader.list_api_versions(name, self._type_name))
        except DataNotFoundError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._scan(self._type_name))

    def __len__(self) -> int:
        return len(self._scan(self._type_name))


def _skip_service_scan(new: botocore.session.Session) -> None:
    loader = new.get_component("data_loader")  # botocore's own, honouring AWS_DATA_PATH
    if getattr(loader, "_zosi_lazy_service_names", False):
        return  # a loader shared between sessions (the test suite shares one)
    if not (
        callable(getattr(loader, "list_api_versions", None))
        and callable(getattr(loader, "list_available_services", None))
    ):
        return  # a botocore without these loader methods (the runtime's, say): keep its own way
    scan = loader.list_available_services
    loader.list_available_services = lambda type_name: ServiceNames(loader, type_name, scan)
    loader._zosi_lazy_service_names = True


def session() -> botocore.session.Session:
    global _session
    if _session is None:
        import botocore.session

        new = botocore.session.get_session()
        _skip_service_scan(new)
        _session = new
    return _session


def client(service: str) -> Any:
    """A cached botocore client for ``service`` in the function's region."""
    found = _clients.get(service)
    if found is not None:
        return found
    if service not in SERVICES:
        raise ValueError(f"{service!r} is not in skill.aws.SERVICES: the package ships no model for it")
    with _lock:
        found = _clients.get(service)
        if found is None:
            from botocore.config import Config

            from skill import http
            from skill.config import settings

            # Each attempt's answer is cut at the request's deadline (skill.http), and no retry starts
            # after it: a trickling or hanging DynamoDB/KMS/Secrets Manager cannot outlive a directive.
            found = http.bound_botocore(
                session().create_client(
                    service,
                    region_name=settings().aws_region,
                    config=Config(
                        connect_timeout=1,
                        read_timeout=2,
                        retries={"max_attempts": 2, "mode": "standard"},
                    ),
                )
            )
            _clients[service] = found
    return found


@warm.register
def reset() -> None:
    """Drop cached clients (tests switch between mocked backends)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
