"""Field types shared by the API schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@/-]{1,64}$")]
Tags = Annotated[list[Tag], Field(max_length=16)]
OptionalTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:@/-]{0,64}$")]
ShortText = Annotated[str, StringConstraints(max_length=128)]
Text = Annotated[str, StringConstraints(max_length=4096)]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
Hex40 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{40}$")]
ReportId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,64}$")]
DeviceIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]
