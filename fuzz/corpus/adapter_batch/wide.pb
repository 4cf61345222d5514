

citizen_id
	full_name
	ethnicity
001
x
Kinh