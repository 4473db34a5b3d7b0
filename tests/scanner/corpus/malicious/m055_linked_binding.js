process._linkedBinding('electron_common_v8_util');
