"""The dashboard's routes (server-rendered HTML). A placeholder until the dashboard lands:
`create_app` mounts `router`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
