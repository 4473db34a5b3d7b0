window.execScript(code);
