"""Device-fact collectors: simulated profiles, Android over adb, iOS over USB."""
