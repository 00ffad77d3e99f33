# consumer.mk - the transform unit test links the consumer's transform module too.
$(B)/tests/test_transform: $(B)/tests/unit/test_transform.o $(B)/consumer/transform.o $(B)/libsvc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
