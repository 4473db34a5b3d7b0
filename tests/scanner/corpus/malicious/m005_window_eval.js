window.eval(document.location.hash.slice(1));
