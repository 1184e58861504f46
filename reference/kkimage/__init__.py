"""kkimage: KubeKey's `image` module (pull, push, copy), reference implementation."""

import warnings

# kkimage says what matters in its own words (`insecure` once per registry); the libraries'
# warnings (urllib3's InsecureRequestWarning on every connection, requests' dependency
# checks at import) would only repeat it around them.
warnings.filterwarnings("ignore", module=r"(requests|urllib3)(\.|$)")

__version__ = "0.1.0"
