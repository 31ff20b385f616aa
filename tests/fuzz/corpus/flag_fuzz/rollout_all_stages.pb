h
orders*postgres-orders2dynamodb-orders8B	tenant_idR/-
N
 œ
°ê
¨Ã
N
ˆ'z
u-1
	tenant_idt-1z
u-2z
	tenant_idt-9