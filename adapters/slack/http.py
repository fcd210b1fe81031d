"""HTTP mode: an aiohttp server for Slack's signed requests and, with OAuth, the install flow."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def web_app(app: AsyncApp) -> web.Application:
    """POST /slack/events for commands, events and interactivity; OAuth pages when enabled."""

    async def events(request: web.Request) -> web.Response:
        # Bolt checks the signature and timestamp (401 when wrong or older than 5 minutes).
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    server = web.Application()
    server.router.add_post(EVENTS_PATH, events)
    flow = app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_installation(await to_bolt_request(request))
            )

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_callback(await to_bolt_request(request))
            )

        server.router.add_get(flow.install_path, install)
        server.router.add_get(flow.redirect_uri_path, redirect)
    return server


async def start(app: AsyncApp, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0: any free port); returns the runner and the bound port."""
    runner = web.AppRunner(web_app(app), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)
