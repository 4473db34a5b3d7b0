eval?.(remote);
