"""App protection on the server: the APK analysis cache, app reputation, malware alerts."""
