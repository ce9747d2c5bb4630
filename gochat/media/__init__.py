"""Media: blob storage (local files or S3-compatible), type sniffing, image and audio processing,
virus scanning. Nothing here knows HTTP or SQL; services/files.py puts it together."""
