­
orders*postgres-orders2dynamodb-orders8J
eq
age42"J
lt
age-1.5"J
le
age1e3"J
gt
score0.25"J
ge
score100"Rz
u-1	
age42z 
u-2
age2000
score0.5