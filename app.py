"""ERank Studio: ``python app.py`` starts the web app and prints its local URL (also the
Hugging Face Spaces entry point). Options: --model M --engine E --port P --db URL (see --help);
environment: ERANK_DB_URL, ERANK_MODEL, ERANK_ENGINE, ERANK_AUTH="user:pass,...",
GRADIO_SERVER_NAME, GRADIO_SERVER_PORT."""
import sys

from erank_studio.ui.server import main

if __name__ == "__main__":
    sys.exit(main())
