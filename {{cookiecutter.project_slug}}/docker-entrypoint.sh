#!/bin/sh
# The image's entrypoint: reads the settings once before uvicorn starts its
# workers, so that bad settings (a missing SECRET_KEY in production, say) stop
# the container with the app's own one-line message. Without it, each worker
# would exit with that message and uvicorn would start it again, forever.
set -eu
if [ "${1-}" = uvicorn ]; then
    python -c 'from app.config import get_settings; get_settings()'
fi
exec "$@"
